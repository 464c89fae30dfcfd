package fsm

import (
	"reflect"
	"testing"
)

func wantAlias(name string, want Alias) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		a, ok := f.Alias(name)
		if !ok {
			t.Fatalf("alias %s not found", name)
		}
		if !reflect.DeepEqual(*a, want) {
			t.Errorf("alias = %+v, want %+v", *a, want)
		}
	}
}

func TestFSM_CreateAlias(t *testing.T) {
	create := func(name, keyID string) *CreateAlias { return &CreateAlias{Req: at(t0 + 5), Name: name, KeyID: keyID} }
	runApplyCases(t, []applyCase{
		{name: "ok", setup: []Command{createKey(keyA)}, cmd: create("alias/a", keyA),
			check: wantAlias("alias/a", Alias{Name: "alias/a", KeyID: keyA, CreatedAt: t0 + 5, UpdatedAt: t0 + 5})},
		{name: "disabled key", setup: []Command{createKey(keyA), disable(keyA)}, cmd: create("alias/a", keyA)},
		{name: "second alias same key", setup: []Command{createKey(keyA), create("alias/a", keyA)}, cmd: create("alias/b", keyA),
			check: func(t *testing.T, f *FSM) {
				if got := f.AliasesOf(keyA); !reflect.DeepEqual(got, []string{"alias/a", "alias/b"}) {
					t.Errorf("AliasesOf = %v", got)
				}
			}},
		{name: "exists", setup: []Command{createKey(keyA), createKey(keyB), create("alias/a", keyA)}, cmd: create("alias/a", keyB), want: ErrAliasExists, subject: "alias/a"},
		{name: "exists same key", setup: []Command{createKey(keyA), create("alias/a", keyA)}, cmd: create("alias/a", keyA), want: ErrAliasExists},
		{name: "missing key", setup: []Command{createKey(keyA)}, cmd: create("alias/a", keyB), want: ErrKeyNotFound, subject: keyB},
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)}, cmd: create("alias/a", keyA), want: ErrInvalidState, subject: keyA},
	})
}

func TestFSM_UpdateAlias(t *testing.T) {
	setup := []Command{createKey(keyA), createKey(keyB), &CreateAlias{Req: at(t0), Name: "alias/a", KeyID: keyA}}
	update := func(keyID string) *UpdateAlias { return &UpdateAlias{Req: at(t0 + 9), Name: "alias/a", KeyID: keyID} }
	runApplyCases(t, []applyCase{
		{name: "ok", setup: setup, cmd: update(keyB),
			check: wantAlias("alias/a", Alias{Name: "alias/a", KeyID: keyB, CreatedAt: t0, UpdatedAt: t0 + 9})},
		{name: "same key", setup: setup, cmd: update(keyA),
			check: wantAlias("alias/a", Alias{Name: "alias/a", KeyID: keyA, CreatedAt: t0, UpdatedAt: t0 + 9})},
		{name: "to disabled key", setup: append(setup[:3:3], disable(keyB)), cmd: update(keyB)},
		{name: "missing alias", setup: setup[:2], cmd: update(keyB), want: ErrAliasNotFound, subject: "alias/a"},
		{name: "missing target", setup: setup, cmd: update(keyC), want: ErrKeyNotFound, subject: keyC},
		{name: "target pending deletion", setup: append(setup[:3:3], schedule(keyB)), cmd: update(keyB), want: ErrInvalidState, subject: keyB},
	})
}

func TestFSM_DeleteAlias(t *testing.T) {
	setup := []Command{createKey(keyA), &CreateAlias{Req: at(t0), Name: "alias/a", KeyID: keyA}, &CreateAlias{Req: at(t0), Name: "alias/b", KeyID: keyA}}
	del := &DeleteAlias{Req: at(t0), Name: "alias/a"}
	runApplyCases(t, []applyCase{
		{name: "ok", setup: setup, cmd: del, check: func(t *testing.T, f *FSM) {
			if _, ok := f.Alias("alias/a"); ok {
				t.Error("alias/a still present")
			}
			if got := f.AliasesOf(keyA); !reflect.DeepEqual(got, []string{"alias/b"}) {
				t.Errorf("AliasesOf = %v", got)
			}
		}},
		// The key's state does not matter for DeleteAlias.
		{name: "key pending deletion", setup: append(setup[:3:3], schedule(keyA)), cmd: del},
		{name: "missing", setup: setup[:1], cmd: del, want: ErrAliasNotFound, subject: "alias/a"},
		{name: "twice", setup: append(setup[:3:3], del), cmd: del, want: ErrAliasNotFound},
	})
}
