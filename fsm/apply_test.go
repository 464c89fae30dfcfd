package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// applyCase is one command applied to an FSM built from setup. A case with
// want != nil is a rejection: it must return that sentinel and leave the
// snapshot encoding byte-identical.
type applyCase struct {
	name    string
	setup   []Command
	cmd     Command
	want    error
	subject string // for rejections: the StateError subject, if checked
	check   func(t *testing.T, f *FSM)
}

func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFSM(t, tc.setup...)
			before := snapBytes(t, f)
			err := applyOne(t, f, tc.cmd)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Apply(%T) = %v, want success", tc.cmd, err)
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("Apply(%T) = %v, want %v", tc.cmd, err, tc.want)
				}
				if after := snapBytes(t, f); !bytes.Equal(before, after) {
					t.Errorf("rejected %T changed the state:\nbefore %s\nafter  %s", tc.cmd, before, after)
				}
				if tc.subject != "" {
					var se *StateError
					if !errors.As(err, &se) || se.Subject != tc.subject {
						t.Errorf("rejection %v: want a *StateError about %q", err, tc.subject)
					}
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// Setup commands.
func schedule(id string) *ScheduleDeletion {
	return &ScheduleDeletion{Req: at(t0), KeyID: id, WindowDays: 7, DeletionDate: t0 + 7*day}
}
func disable(id string) *DisableKey { return &DisableKey{Req: at(t0), KeyID: id} }
func withTags(tags ...Tag) func(*Key) {
	return func(k *Key) { k.Tags = append([]Tag(nil), tags...) }
}

// wantKey checks fields of a key after a successful command.
func wantKey(id string, check func(t *testing.T, k *Key)) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		check(t, mustKey(t, f, id))
	}
}

func wantState(id, state string) func(*testing.T, *FSM) {
	return wantKey(id, func(t *testing.T, k *Key) {
		if k.State != state {
			t.Errorf("state = %s, want %s", k.State, state)
		}
	})
}

func TestFSM_InitSeal(t *testing.T) {
	s := testSeal()
	runApplyCases(t, []applyCase{
		{name: "ok", cmd: &InitSeal{Req: at(t0), Seal: s}, check: func(t *testing.T, f *FSM) {
			if got := f.Seal(); !reflect.DeepEqual(got, &s) {
				t.Errorf("Seal() = %#v, want %#v", got, s)
			}
		}},
		{name: "twice", setup: []Command{&InitSeal{Req: at(t0), Seal: s}}, cmd: &InitSeal{Req: at(t0), Seal: testSeal()}, want: ErrSealExists},
		{name: "no terms", cmd: &InitSeal{Req: at(t0), Seal: Seal{WrappedRoot: s.WrappedRoot}}, want: ErrBadCommand},
		{name: "no wrapped root", cmd: &InitSeal{Req: at(t0), Seal: Seal{Terms: s.Terms}}, want: ErrBadCommand},
	})
	if New().Seal() != nil {
		t.Error("Seal() before InitSeal is not nil")
	}
}

func TestFSM_CreateKey(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "ok", cmd: createKey(keyA), check: func(t *testing.T, f *FSM) {
			want := fixtureKey(keyA)
			if got := mustKey(t, f, keyA); !reflect.DeepEqual(got, &want) {
				t.Errorf("Key = %#v\nwant %#v", got, want)
			}
			if f.KeyCount() != 1 {
				t.Errorf("KeyCount = %d", f.KeyCount())
			}
		}},
		{name: "tags sorted", cmd: createKey(keyA, withTags(Tag{"z", "1"}, Tag{"a", "2"}, Tag{"m", "3"})),
			check: wantKey(keyA, func(t *testing.T, k *Key) {
				if want := []Tag{{"a", "2"}, {"m", "3"}, {"z", "1"}}; !reflect.DeepEqual(k.Tags, want) {
					t.Errorf("tags = %v, want %v", k.Tags, want)
				}
			})},
		{name: "duplicate", setup: []Command{createKey(keyA)}, cmd: createKey(keyA, func(k *Key) { k.Description = "other" }), want: ErrConflict, subject: keyA},
		{name: "no id", cmd: createKey(""), want: ErrBadCommand},
		{name: "no material", cmd: createKey(keyA, func(k *Key) { k.Materials = nil }), want: ErrBadCommand},
	})
}

func TestFSM_UpdateDescription(t *testing.T) {
	upd := &UpdateDescription{Req: at(t0), KeyID: keyA, Description: "new"}
	runApplyCases(t, []applyCase{
		{name: "ok", setup: []Command{createKey(keyA)}, cmd: upd, check: wantKey(keyA, func(t *testing.T, k *Key) {
			if k.Description != "new" {
				t.Errorf("description = %q", k.Description)
			}
		})},
		{name: "disabled key", setup: []Command{createKey(keyA), disable(keyA)}, cmd: upd},
		{name: "missing key", setup: []Command{createKey(keyB)}, cmd: upd, want: ErrKeyNotFound, subject: keyA},
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: upd, want: ErrInvalidState, subject: keyA},
	})
}

func TestFSM_EnableDisableKey(t *testing.T) {
	enable := &EnableKey{Req: at(t0), KeyID: keyA}
	runApplyCases(t, []applyCase{
		{name: "enable disabled", setup: []Command{createKey(keyA), disable(keyA)}, cmd: enable, check: wantState(keyA, StateEnabled)},
		{name: "enable enabled", setup: []Command{createKey(keyA)}, cmd: enable, check: wantState(keyA, StateEnabled)},
		{name: "enable missing", cmd: enable, want: ErrKeyNotFound},
		{name: "enable pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: enable, want: ErrInvalidState},
		{name: "disable enabled", setup: []Command{createKey(keyA)}, cmd: disable(keyA), check: wantState(keyA, StateDisabled)},
		{name: "disable disabled", setup: []Command{createKey(keyA), disable(keyA)}, cmd: disable(keyA), check: wantState(keyA, StateDisabled)},
		{name: "disable missing", cmd: disable(keyA), want: ErrKeyNotFound},
		{name: "disable pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: disable(keyA), want: ErrInvalidState},
	})
}

func TestFSM_ScheduleCancelDeletion(t *testing.T) {
	cancel := &CancelDeletion{Req: at(t0), KeyID: keyA}
	scheduled := wantKey(keyA, func(t *testing.T, k *Key) {
		if k.State != StatePendingDeletion || k.DeletionDate != t0+7*day || k.PendingWindowDays != 7 {
			t.Errorf("key = %s %d %d", k.State, k.DeletionDate, k.PendingWindowDays)
		}
	})
	runApplyCases(t, []applyCase{
		{name: "schedule enabled", setup: []Command{createKey(keyA)}, cmd: schedule(keyA), check: scheduled},
		{name: "schedule disabled", setup: []Command{createKey(keyA), disable(keyA)}, cmd: schedule(keyA), check: scheduled},
		{name: "schedule missing", cmd: schedule(keyA), want: ErrKeyNotFound},
		{name: "schedule twice", setup: []Command{createKey(keyA), schedule(keyA)},
			cmd: &ScheduleDeletion{Req: at(t0), KeyID: keyA, WindowDays: 30, DeletionDate: t0 + 30*day}, want: ErrInvalidState},
		{name: "cancel", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: cancel, check: wantKey(keyA, func(t *testing.T, k *Key) {
			if k.State != StateDisabled || k.DeletionDate != 0 || k.PendingWindowDays != 0 {
				t.Errorf("key = %s %d %d, want Disabled 0 0", k.State, k.DeletionDate, k.PendingWindowDays)
			}
		})},
		{name: "cancel enabled", setup: []Command{createKey(keyA)}, cmd: cancel, want: ErrInvalidState, subject: keyA},
		{name: "cancel disabled", setup: []Command{createKey(keyA), disable(keyA)}, cmd: cancel, want: ErrInvalidState},
		{name: "cancel missing", cmd: cancel, want: ErrKeyNotFound},
	})
}

func TestFSM_DeleteKey(t *testing.T) {
	del := func(ms int64) *DeleteKey { return &DeleteKey{Req: at(ms), KeyID: keyA} }
	withAliases := []Command{
		createKey(keyA), createKey(keyB),
		&CreateAlias{Req: at(t0), Name: "alias/a1", KeyID: keyA},
		&CreateAlias{Req: at(t0), Name: "alias/b1", KeyID: keyB},
		&CreateAlias{Req: at(t0), Name: "alias/a2", KeyID: keyA},
		&CreateAlias{Req: at(t0), Name: "alias/c", KeyID: keyB},
		schedule(keyA),
	}
	runApplyCases(t, []applyCase{
		{name: "at deletion date", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: del(t0 + 7*day), check: func(t *testing.T, f *FSM) {
			if _, ok := f.Key(keyA); ok || f.KeyCount() != 0 {
				t.Error("key still present")
			}
		}},
		{name: "after deletion date", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: del(t0 + 8*day)},
		{name: "before deletion date", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: del(t0 + 7*day - 1), want: ErrInvalidState, subject: keyA},
		{name: "not pending", setup: []Command{createKey(keyA)}, cmd: del(t0 + 8*day), want: ErrInvalidState},
		{name: "disabled", setup: []Command{createKey(keyA), disable(keyA)}, cmd: del(t0 + 8*day), want: ErrInvalidState},
		{name: "missing", setup: []Command{createKey(keyB)}, cmd: del(t0 + 8*day), want: ErrKeyNotFound},
		{name: "removes own aliases only", setup: withAliases, cmd: del(t0 + 7*day), check: func(t *testing.T, f *FSM) {
			if got := f.AliasesOf(keyA); len(got) != 0 {
				t.Errorf("aliases of deleted key: %v", got)
			}
			if got, want := f.AliasesOf(keyB), []string{"alias/b1", "alias/c"}; !reflect.DeepEqual(got, want) {
				t.Errorf("aliases of %s = %v, want %v", keyB, got, want)
			}
			as, more := f.ListAliases("", "", 10)
			if len(as) != 2 || more {
				t.Errorf("ListAliases = %d aliases, more %v", len(as), more)
			}
			if _, ok := f.Alias("alias/a1"); ok {
				t.Error("alias/a1 survives")
			}
			mustKey(t, f, keyB)
		}},
	})
}

func TestFSM_TagResource(t *testing.T) {
	tag := func(tags ...Tag) *TagResource { return &TagResource{Req: at(t0), KeyID: keyA, Tags: tags} }
	wantTags := func(want ...Tag) func(*testing.T, *FSM) {
		return wantKey(keyA, func(t *testing.T, k *Key) {
			if !reflect.DeepEqual(k.Tags, want) {
				t.Errorf("tags = %v, want %v", k.Tags, want)
			}
		})
	}
	full := createKey(keyA, withTags(nTags(MaxTagsPerKey)...))
	runApplyCases(t, []applyCase{
		{name: "add to none", setup: []Command{createKey(keyA)}, cmd: tag(Tag{"b", "1"}, Tag{"a", "2"}), check: wantTags(Tag{"a", "2"}, Tag{"b", "1"})},
		{name: "merge and replace", setup: []Command{createKey(keyA, withTags(Tag{"b", "old"}, Tag{"d", "4"}))},
			cmd: tag(Tag{"c", "3"}, Tag{"b", "new"}, Tag{"a", "1"}, Tag{"e", "5"}), check: wantTags(Tag{"a", "1"}, Tag{"b", "new"}, Tag{"c", "3"}, Tag{"d", "4"}, Tag{"e", "5"})},
		{name: "same key twice in one command", setup: []Command{createKey(keyA)}, cmd: tag(Tag{"a", "1"}, Tag{"a", "2"}), check: wantTags(Tag{"a", "2"})},
		{name: "disabled key", setup: []Command{createKey(keyA), disable(keyA)}, cmd: tag(Tag{"a", "1"}), check: wantTags(Tag{"a", "1"})},
		{name: "up to 50", setup: []Command{createKey(keyA, withTags(nTags(MaxTagsPerKey-1)...))}, cmd: tag(Tag{"zz", "last"}),
			check: wantKey(keyA, func(t *testing.T, k *Key) {
				if len(k.Tags) != MaxTagsPerKey {
					t.Errorf("%d tags", len(k.Tags))
				}
			})},
		{name: "51st", setup: []Command{full}, cmd: tag(Tag{"zz", "one too many"}), want: ErrLimitExceeded, subject: keyA},
		{name: "51 at once", setup: []Command{createKey(keyA)}, cmd: tag(nTags(MaxTagsPerKey + 1)...), want: ErrLimitExceeded},
		{name: "replace at 50", setup: []Command{full}, cmd: tag(Tag{"t000", "replaced"}), check: wantKey(keyA, func(t *testing.T, k *Key) {
			if len(k.Tags) != MaxTagsPerKey || k.Tags[0] != (Tag{"t000", "replaced"}) {
				t.Errorf("%d tags, first %v", len(k.Tags), k.Tags[0])
			}
		})},
		{name: "missing key", cmd: tag(Tag{"a", "1"}), want: ErrKeyNotFound},
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: tag(Tag{"a", "1"}), want: ErrInvalidState},
	})
}

func TestFSM_UntagResource(t *testing.T) {
	untag := func(keys ...string) *UntagResource { return &UntagResource{Req: at(t0), KeyID: keyA, Keys: keys} }
	tagged := createKey(keyA, withTags(Tag{"a", "1"}, Tag{"b", "2"}, Tag{"c", "3"}))
	wantTags := func(want ...Tag) func(*testing.T, *FSM) {
		return wantKey(keyA, func(t *testing.T, k *Key) {
			if len(k.Tags) != len(want) || (len(want) > 0 && !reflect.DeepEqual(k.Tags, want)) {
				t.Errorf("tags = %v, want %v", k.Tags, want)
			}
		})
	}
	runApplyCases(t, []applyCase{
		{name: "some", setup: []Command{tagged}, cmd: untag("c", "a"), check: wantTags(Tag{"b", "2"})},
		{name: "all", setup: []Command{tagged}, cmd: untag("a", "b", "c"), check: wantTags()},
		{name: "absent tag key", setup: []Command{tagged}, cmd: untag("x"), check: wantTags(Tag{"a", "1"}, Tag{"b", "2"}, Tag{"c", "3"})},
		{name: "missing key", cmd: untag("a"), want: ErrKeyNotFound},
		{name: "pending deletion", setup: []Command{tagged, schedule(keyA)}, cmd: untag("a"), want: ErrInvalidState},
	})
}

func TestFSM_PutKeyPolicy(t *testing.T) {
	const doc = `{"Version":"2012-10-17","Statement":[{"Sid":"x"}]}`
	put := &PutKeyPolicy{Req: at(t0), KeyID: keyA, Policy: doc}
	hasPolicy := wantKey(keyA, func(t *testing.T, k *Key) {
		if k.Policy != doc {
			t.Errorf("policy = %s", k.Policy)
		}
	})
	runApplyCases(t, []applyCase{
		{name: "ok", setup: []Command{createKey(keyA)}, cmd: put, check: hasPolicy},
		{name: "disabled", setup: []Command{createKey(keyA), disable(keyA)}, cmd: put, check: hasPolicy},
		// Apply does not gate PutKeyPolicy on the key state.
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: put, check: hasPolicy},
		{name: "missing key", cmd: put, want: ErrKeyNotFound},
	})
}
