package fsm

import (
	"bytes"
	"testing"
)

func TestLevelOf(t *testing.T) {
	for _, c := range declaredCommandTypes(t) {
		lv := LevelOf(c.typ)
		if lv < 1 || lv > MaxLevel {
			t.Errorf("%s: level %d outside 1..%d: a declared type must be proposable by this release", c.name, lv, MaxLevel)
		}
		if c.typ <= CmdRotateKey && lv != 1 {
			t.Errorf("%s is a v0.1 type at level %d", c.name, lv)
		}
	}
	if LevelOf(CmdSetLevel+1) <= MaxLevel {
		t.Error("an undeclared type is proposable")
	}
	if LevelOf(CmdCreateGrant|IgnorableFlag) != LevelOf(CmdCreateGrant) {
		t.Error("LevelOf depends on the ignorable flag")
	}
}

func TestSetLevel(t *testing.T) {
	f := New()
	if f.Level() != 1 {
		t.Fatalf("a new state is at level %d, want 1", f.Level())
	}
	mustApply(t, f, &SetLevel{Req: at(t0), Level: 2})
	mustApply(t, f, &SetLevel{Req: at(t0), Level: 1}) // never lowers
	if f.Level() != 2 {
		t.Fatalf("level %d, want 2", f.Level())
	}
	if err := applyOne(t, f, &SetLevel{Req: at(t0), Level: 0}); err == nil {
		t.Fatal("level 0 accepted")
	}
	// An older release skips SetLevel: it is encoded with IgnorableFlag.
	b, err := Encode(&SetLevel{Level: 2})
	if err != nil || b[0] != byte(CmdSetLevel|IgnorableFlag) {
		t.Fatalf("Encode(SetLevel) = %x, %v", b, err)
	}
	if c, ign, err := Decode(b); err != nil || ign || c.(*SetLevel).Level != 2 {
		t.Fatalf("Decode = %v %v %v", c, ign, err)
	}
	// The level survives a snapshot; a v0.1 snapshot (no level) reads as 1.
	s1 := snapBytes(t, f)
	g := New()
	if err := g.Restore(&closeTracker{Reader: bytes.NewReader(s1)}); err != nil || g.Level() != 2 {
		t.Fatalf("restored level %d, %v", g.Level(), err)
	}
	if !bytes.Contains(s1, []byte(`"level":2`)) || bytes.Contains(snapBytes(t, New()), []byte(`"level"`)) {
		t.Error("the level is not in the snapshot, or an empty state writes one")
	}
}
