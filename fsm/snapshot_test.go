package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

// richCommands build a state that uses every part of the snapshot: the seal,
// keys in all states with tags, rotation and several materials, aliases and
// remembered request IDs (including a rejection).
func richCommands() []Command {
	return []Command{
		&InitSeal{Req: rid("r-seal", t0), Seal: testSeal()},
		&CreateKey{Req: rid("r-a", t0), Key: fixtureKey(keyA, withTags(Tag{"env", "prod"}, Tag{"app", "x"}))},
		&CreateKey{Req: rid("r-b", t0+1), Key: fixtureKey(keyB, func(k *Key) { k.Description = "b"; k.MultiRegion = true })},
		&CreateKey{Req: rid("r-c", t0+2), Key: fixtureKey(keyC)},
		&SetRotation{Req: rid("r-rot", t0+3), KeyID: keyA, Enabled: true, PeriodDays: 90, NextAt: t0 + 90*day},
		&RotateKey{Req: rid("r-rk", t0+4), KeyID: keyB, Material: Material{Version: 2, Sealed: sealedBlob(keyB, 2), CreatedAt: t0 + 4, RotationType: RotationOnDemand}},
		&CreateAlias{Req: rid("r-al1", t0+5), Name: "alias/app", KeyID: keyA},
		&CreateAlias{Req: rid("r-al2", t0+6), Name: "alias/b", KeyID: keyB},
		&CreateAlias{Req: rid("r-bad", t0+7), Name: "alias/missing", KeyID: "no-such-key"},
		&DisableKey{Req: rid("r-dis", t0+8), KeyID: keyB},
		&ScheduleDeletion{Req: rid("r-del", t0+9), KeyID: keyC, WindowDays: 7, DeletionDate: t0 + 7*day},
		&PutKeyPolicy{Req: at(t0 + 10), KeyID: keyA, Policy: `{"Version":"2012-10-17","Statement":["é\u2028<>&"]}`},
	}
}

// richFSM applies richCommands; the one rejection there is intended.
func richFSM(t testing.TB) *FSM {
	t.Helper()
	f := New()
	for i, res := range apply(t, f, richCommands()...) {
		if err, _ := res.(error); err != nil && !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("rich command %d: %v", i, err)
		}
	}
	return f
}

func TestSnapshot_RoundTrip(t *testing.T) {
	for name, f := range map[string]*FSM{"empty": New(), "rich": richFSM(t)} {
		t.Run(name, func(t *testing.T) {
			s1 := snapBytes(t, f)
			if !strings.HasPrefix(string(s1), snapshotMagic) {
				t.Fatalf("snapshot does not start with the magic: %q", s1[:min(len(s1), 40)])
			}
			g := New()
			rc := &closeTracker{Reader: bytes.NewReader(s1)}
			if err := g.Restore(rc); err != nil {
				t.Fatal(err)
			}
			if !rc.closed {
				t.Error("Restore did not close its reader")
			}
			if s2 := snapBytes(t, g); !bytes.Equal(s1, s2) {
				t.Errorf("snapshot after restore differs:\n%s\n%s", s1, s2)
			}
			assertSameReads(t, f, g)
		})
	}
}

// assertSameReads compares everything the read API exposes.
func assertSameReads(t *testing.T, f, g *FSM) {
	t.Helper()
	fk, _ := f.ListKeys("", 1000)
	gk, _ := g.ListKeys("", 1000)
	if !reflect.DeepEqual(fk, gk) {
		t.Errorf("keys differ:\n%+v\n%+v", fk, gk)
	}
	fa, _ := f.ListAliases("", "", 1000)
	ga, _ := g.ListAliases("", "", 1000)
	if !reflect.DeepEqual(fa, ga) {
		t.Errorf("aliases differ:\n%+v\n%+v", fa, ga)
	}
	if !reflect.DeepEqual(f.Seal(), g.Seal()) {
		t.Errorf("seals differ")
	}
	if f.KeyCount() != g.KeyCount() {
		t.Errorf("KeyCount %d != %d", f.KeyCount(), g.KeyCount())
	}
}

// The request table survives a restore: a duplicate after it is still a
// duplicate, with its stored rejection.
func TestSnapshot_RestoreKeepsRequestIDs(t *testing.T) {
	f := richFSM(t)
	g := New()
	if err := restore(g, snapBytes(t, f)); err != nil {
		t.Fatal(err)
	}
	dup := &CreateAlias{Req: rid("r-bad", t0+7), Name: "alias/missing", KeyID: "no-such-key"}
	r1, r2 := applyOne(t, f, dup), applyOne(t, g, dup)
	if !errors.Is(r1, ErrKeyNotFound) || !reflect.DeepEqual(r1, r2) {
		t.Errorf("duplicate before/after restore: %#v vs %#v", r1, r2)
	}
	dis := &DisableKey{Req: rid("r-dis", t0+11), KeyID: keyB}
	if err := applyOne(t, g, dis); err != nil {
		t.Errorf("duplicate after restore = %v, want the stored nil", err)
	}
}

func TestSnapshot_RestoreDiscardsOldState(t *testing.T) {
	src := newFSM(t, createKey(keyA), &CreateAlias{Req: at(t0), Name: "alias/a", KeyID: keyA})
	f := newFSM(t, &InitSeal{Req: at(t0), Seal: testSeal()}, createKey(keyB), createKey(keyC),
		&CreateAlias{Req: rid("old-req", t0), Name: "alias/c", KeyID: keyC})
	if err := restore(f, snapBytes(t, src)); err != nil {
		t.Fatal(err)
	}
	assertSameReads(t, src, f)
	if f.Seal() != nil {
		t.Error("seal survived a restore of a snapshot without one")
	}
	if got := f.AliasesOf(keyC); len(got) != 0 {
		t.Errorf("old aliases survived: %v", got)
	}
	if _, ok := f.st.reqs["old-req"]; ok {
		t.Error("old request ID survived")
	}
	if !bytes.Equal(snapBytes(t, src), snapBytes(t, f)) {
		t.Error("restored state's snapshot differs from its source")
	}
}

// Equal states give byte-identical snapshots however they were reached,
// where the commands commute. (No request IDs: the request table keeps
// apply order on purpose.)
func TestSnapshot_OrderIndependent(t *testing.T) {
	tag := func(id string, tags ...Tag) *TagResource { return &TagResource{Req: at(t0), KeyID: id, Tags: tags} }
	alias := func(name, id string) *CreateAlias { return &CreateAlias{Req: at(t0), Name: name, KeyID: id} }
	tests := []struct {
		name string
		a, b []Command
	}{
		{"keys", []Command{createKey(keyA), createKey(keyB), createKey(keyC)}, []Command{createKey(keyC), createKey(keyA), createKey(keyB)}},
		{"aliases",
			[]Command{createKey(keyA), createKey(keyB), alias("alias/z", keyA), alias("alias/a", keyB), alias("alias/m", keyA)},
			[]Command{createKey(keyB), createKey(keyA), alias("alias/m", keyA), alias("alias/z", keyA), alias("alias/a", keyB)}},
		{"tags",
			[]Command{createKey(keyA), tag(keyA, Tag{"b", "1"}), tag(keyA, Tag{"a", "2"}, Tag{"c", "3"})},
			[]Command{createKey(keyA, withTags(Tag{"c", "3"})), tag(keyA, Tag{"a", "2"}), tag(keyA, Tag{"b", "1"})}},
		{"seal and keys", []Command{&InitSeal{Req: at(t0), Seal: testSeal()}, createKey(keyA)}, []Command{createKey(keyA), &InitSeal{Req: at(t0), Seal: testSeal()}}},
		{"edits of different keys",
			[]Command{createKey(keyA), createKey(keyB), disable(keyA), rotate(keyB, 2, t0, RotationOnDemand), schedule(keyB)},
			[]Command{createKey(keyB), rotate(keyB, 2, t0, RotationOnDemand), createKey(keyA), schedule(keyB), disable(keyA)}},
		{"deleted key leaves no trace",
			[]Command{createKey(keyA), createKey(keyB), alias("alias/b", keyB), schedule(keyB), &DeleteKey{Req: at(t0 + 7*day), KeyID: keyB}},
			[]Command{createKey(keyA)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sa, sb := snapBytes(t, newFSM(t, tt.a...)), snapBytes(t, newFSM(t, tt.b...))
			if !bytes.Equal(sa, sb) {
				t.Errorf("snapshots differ:\n%s\n%s", sa, sb)
			}
		})
	}
}

// more returns commands that change every part of a rich FSM's state.
func more(n int) []Command {
	out := []Command{
		&UpdateDescription{Req: rid("m-desc", t0+20), KeyID: keyA, Description: "changed after the snapshot"},
		&TagResource{Req: rid("m-tag", t0+21), KeyID: keyA, Tags: []Tag{{"late", "tag"}}},
		&RotateKey{Req: rid("m-rot", t0+22), KeyID: keyA, Material: Material{Version: 2, Sealed: []byte("late-material"), CreatedAt: t0 + 22, RotationType: RotationOnDemand}},
		&UpdateAlias{Req: rid("m-ual", t0+23), Name: "alias/b", KeyID: keyA},
		&DeleteAlias{Req: rid("m-dal", t0+24), Name: "alias/app"},
		&DeleteKey{Req: rid("m-dk", t0+7*day), KeyID: keyC},
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("late-key-%04d", i)
		out = append(out, &CreateKey{Req: rid("m-ck-"+id, t0+7*day+int64(i)), Key: fixtureKey(id)},
			&CreateAlias{Req: at(t0 + 7*day), Name: "alias/" + id, KeyID: id})
	}
	return out
}

// Persist writes the state as of Snapshot, whatever Apply did since.
func TestSnapshot_PointInTime(t *testing.T) {
	f := richFSM(t)
	first, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := persist(t, first)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, f, more(3)...)
	if bytes.Equal(want, snapBytes(t, f)) {
		t.Fatal("the later commands changed nothing")
	}
	got := persist(t, snap)
	if !bytes.Equal(got, want) {
		t.Errorf("persisted snapshot has later changes:\n got %s\nwant %s", got, want)
	}
	for _, late := range []string{"late-key-0000", "changed after the snapshot", "m-desc", "late"} {
		if bytes.Contains(got, []byte(late)) {
			t.Errorf("persisted snapshot contains %q", late)
		}
	}
}

// Persist runs on Raft's snapshot goroutine while Apply goes on; run them
// together under -race.
func TestSnapshot_PersistConcurrentWithApply(t *testing.T) {
	f := richFSM(t)
	first, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := persist(t, first)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	cmds := more(200)
	logs := make([]*raft.Log, len(cmds))
	for i, c := range cmds {
		logs[i] = makeLog(t, uint64(1000+i), c)
	}
	var wg sync.WaitGroup
	results := make([]interface{}, len(logs))
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i, l := range logs {
			results[i] = f.Apply(l)
		}
	}()
	go func() { // a reader, as the API does
		defer wg.Done()
		for i := 0; i < 200; i++ {
			if k, ok := f.Key(keyA); ok {
				_ = k.Current().Version
			}
			f.ListKeys("", 10)
		}
	}()
	got := persist(t, snap)
	wg.Wait()
	for i, res := range results {
		if res != nil {
			t.Fatalf("command %d (%T): %v", i, cmds[i], res)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("concurrent Persist did not write the point-in-time state")
	}
}

func TestSnapshot_PersistError(t *testing.T) {
	snap, err := richFSM(t).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &bufSink{failWrite: true}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist into a failing sink succeeded")
	}
	if !sink.cancelled || sink.closed {
		t.Errorf("sink cancelled=%v closed=%v, want cancelled only", sink.cancelled, sink.closed)
	}
}

func TestSnapshot_RestoreErrors(t *testing.T) {
	valid := snapBytes(t, richFSM(t))
	body := func(s string) []byte { return []byte(snapshotMagic + s) }
	tests := map[string][]byte{
		"empty":              nil,
		"garbage":            []byte("\x00\x01garbage that is long enough to cover the magic"),
		"short":              []byte("kmsnode"),
		"wrong magic":        append([]byte("kmsnode-fsm-snapshot 2\n"), valid[len(snapshotMagic):]...),
		"magic only":         body(""),
		"truncated json":     valid[:len(valid)/2],
		"truncated by one":   valid[:len(valid)-2],
		"not json":           body("not json"),
		"wrong json type":    body(`{"keys":5}`),
		"key without id":     body(`{"keys":[{"materials":[{"version":1}]}]}`),
		"key without mat":    body(`{"keys":[{"id":"k"}]}`),
		"null key":           body(`{"keys":[null]}`),
		"alias without name": body(`{"aliases":[{"key_id":"k"}]}`),
		"null alias":         body(`{"aliases":[null]}`),
		"bad base64":         body(`{"keys":[{"id":"k","materials":[{"version":1,"sealed":"!!"}]}]}`),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			f := richFSM(t)
			restored := false
			f.SetHooks(Hooks{Restored: func() { restored = true }})
			before := snapBytes(t, f)
			rc := &closeTracker{Reader: bytes.NewReader(data)}
			if err := f.Restore(rc); err == nil {
				t.Fatal("Restore succeeded")
			}
			if !bytes.Equal(before, snapBytes(t, f)) {
				t.Error("failed Restore changed the state")
			}
			if restored {
				t.Error("Restored hook called for a failed restore")
			}
			if !rc.closed {
				t.Error("Restore did not close its reader")
			}
			mustKey(t, f, keyA)
		})
	}
}

// Every state Apply can reach must restore from its own snapshot, or a
// follower could never install it.
func TestSnapshot_EmptyAliasNameRestores(t *testing.T) {
	f := newFSM(t, createKey(keyA))
	err := applyOne(t, f, &CreateAlias{Req: at(t0), Name: "", KeyID: keyA})
	if err != nil {
		return // Apply rejects the name: fine.
	}
	if err := restore(New(), snapBytes(t, f)); err != nil {
		t.Fatalf("Apply accepted CreateAlias with an empty name, but Restore rejects the resulting snapshot: %v", err)
	}
}

// The applied index travels in the snapshot, so a follower restored from
// one knows which commands its state includes (the read lease compares it
// with the leader's).
func TestSnapshot_CarriesAppliedIndex(t *testing.T) {
	f := New()
	mustApply(t, f, createKey(keyA), createKey(keyB))
	want := f.AppliedIndex()
	if want == 0 {
		t.Fatal("AppliedIndex = 0 after two commands")
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	g := New()
	if err := restore(g, persist(t, snap)); err != nil {
		t.Fatal(err)
	}
	if got := g.AppliedIndex(); got != want {
		t.Errorf("AppliedIndex after Restore = %d, want %d", got, want)
	}
}
