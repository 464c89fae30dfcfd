package fsm

import (
	"bytes"
	"errors"
	"testing"
)

// sealGoldenCommands are the golden examples of the seal commands.
func sealGoldenCommands() []Command {
	return []Command{
		&AddTerm{Req: goldenReq, Term: Term{Number: 3, Sealed: []byte("term-3-sealed")}, RootCheck: []byte("check-value-0123")},
		&Rekey{Req: goldenReq, Provider: ShamirProvider, WrappedRoot: []byte("wrapped-by-new-shares"),
			RootCheck: []byte("check-value-0123"), Shamir: &ShamirParams{Shares: 7, Threshold: 4}, Previous: []byte("wrapped-by-shamir")},
	}
}

// sealCommand generates seal changes that sometimes fit the test seal and
// sometimes do not (wrong term number, wrong root check, no seal yet).
func (g *gen) sealCommand(r Req) Command {
	check := testSeal().RootCheck
	if g.c.pick(4) == 0 {
		check = []byte("another-root-000")
	}
	if g.c.pick(2) == 0 {
		n := uint32(g.c.pick(5) + 2)
		return &AddTerm{Req: r, Term: Term{Number: n, Sealed: []byte("term-sealed")}, RootCheck: check}
	}
	c := &Rekey{Req: r, Provider: []string{"file", ShamirProvider, "awskms"}[g.c.pick(3)], WrappedRoot: []byte("rewrapped"), RootCheck: check}
	if g.state != nil && g.c.pick(4) != 0 {
		if seal := g.state.Seal(); seal != nil {
			c.Previous = seal.WrappedRoot[c.Provider]
		}
	}
	if c.Provider == ShamirProvider {
		c.Shamir = &ShamirParams{Shares: g.c.pick(6) + 1, Threshold: 3}
	}
	return c
}

func TestAddTerm(t *testing.T) {
	s := testSeal() // terms 1 and 2
	f := newFSM(t, &InitSeal{Req: at(t0), Seal: s})
	before := f.Seal()
	for _, tc := range []struct {
		name string
		cmd  *AddTerm
		want error
	}{
		{"skips a number", &AddTerm{Req: at(t0), Term: Term{Number: 4, Sealed: []byte("t4")}, RootCheck: s.RootCheck}, ErrConflict},
		{"repeats the last", &AddTerm{Req: at(t0), Term: Term{Number: 2, Sealed: []byte("t2")}, RootCheck: s.RootCheck}, ErrConflict},
		{"other root", &AddTerm{Req: at(t0), Term: Term{Number: 3, Sealed: []byte("t3")}, RootCheck: []byte("x")}, ErrConflict},
		{"no key", &AddTerm{Req: at(t0), Term: Term{Number: 3}, RootCheck: s.RootCheck}, ErrBadCommand},
		{"number 0", &AddTerm{Req: at(t0), Term: Term{Sealed: []byte("t")}, RootCheck: s.RootCheck}, ErrBadCommand},
	} {
		if err := applyOne(t, f, tc.cmd); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if f.Seal() != before {
		t.Fatal("a rejected AddTerm changed the seal")
	}
	mustApply(t, f, &AddTerm{Req: at(t0), Term: Term{Number: 3, Sealed: []byte("t3")}, RootCheck: s.RootCheck})
	got := f.Seal()
	if len(got.Terms) != 3 || got.Terms[2].Number != 3 || string(got.Terms[2].Sealed) != "t3" {
		t.Fatalf("terms after AddTerm: %+v", got.Terms)
	}
	// Copy on write: a reader holding the old seal sees it unchanged.
	if len(before.Terms) != 2 {
		t.Fatalf("the old seal was edited in place: %+v", before.Terms)
	}
	// The new term survives a snapshot.
	g := New()
	if err := restore(g, snapBytes(t, f)); err != nil {
		t.Fatal(err)
	}
	if n := len(g.Seal().Terms); n != 3 {
		t.Fatalf("restored seal has %d terms", n)
	}
}

func TestAddTerm_NoSeal(t *testing.T) {
	f := New()
	if err := applyOne(t, f, &AddTerm{Req: at(t0), Term: Term{Number: 1, Sealed: []byte("t")}, RootCheck: []byte("c")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("AddTerm without a seal: %v", err)
	}
	if err := applyOne(t, f, &Rekey{Req: at(t0), Provider: "file", WrappedRoot: []byte("w"), RootCheck: []byte("c")}); !errors.Is(err, ErrConflict) {
		t.Fatalf("Rekey without a seal: %v", err)
	}
}

func TestRekey(t *testing.T) {
	s := testSeal() // wrapped for shamir and awskms
	f := newFSM(t, &InitSeal{Req: at(t0), Seal: s})
	before := f.Seal()
	for _, tc := range []struct {
		name string
		cmd  *Rekey
		want error
	}{
		{"other root", &Rekey{Req: at(t0), Provider: "awskms", WrappedRoot: []byte("w"), RootCheck: []byte("x"), Previous: []byte("wrapped-by-awskms")}, ErrConflict},
		{"no provider", &Rekey{Req: at(t0), WrappedRoot: []byte("w"), RootCheck: s.RootCheck}, ErrBadCommand},
		{"no wrapped key", &Rekey{Req: at(t0), Provider: "file", RootCheck: s.RootCheck}, ErrBadCommand},
		{"shamir without shares", &Rekey{Req: at(t0), Provider: ShamirProvider, WrappedRoot: []byte("w"), RootCheck: s.RootCheck}, ErrBadCommand},
		{"shares for file", &Rekey{Req: at(t0), Provider: "file", WrappedRoot: []byte("w"), RootCheck: s.RootCheck, Shamir: &ShamirParams{5, 3}}, ErrBadCommand},
		{"threshold 1", &Rekey{Req: at(t0), Provider: ShamirProvider, WrappedRoot: []byte("w"), RootCheck: s.RootCheck, Shamir: &ShamirParams{5, 1}}, ErrBadCommand},
		{"threshold above shares", &Rekey{Req: at(t0), Provider: ShamirProvider, WrappedRoot: []byte("w"), RootCheck: s.RootCheck, Shamir: &ShamirParams{2, 3}}, ErrBadCommand},
		{"256 shares", &Rekey{Req: at(t0), Provider: ShamirProvider, WrappedRoot: []byte("w"), RootCheck: s.RootCheck, Shamir: &ShamirParams{256, 3}}, ErrBadCommand},
	} {
		if err := applyOne(t, f, tc.cmd); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if f.Seal() != before {
		t.Fatal("a rejected Rekey changed the seal")
	}
	// Previous must be the wrapped key being replaced: a rekey started
	// from a seal another rekey has since changed is refused.
	stale := &Rekey{Req: at(t0), Provider: ShamirProvider, WrappedRoot: []byte("w"), RootCheck: s.RootCheck, Shamir: &ShamirParams{5, 3}, Previous: []byte("not-it")}
	if err := applyOne(t, f, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("rekey from a stale seal: %v", err)
	}
	stale.Previous = nil
	if err := applyOne(t, f, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("rekey without Previous of a wrapped provider: %v", err)
	}
	mustApply(t, f, &Rekey{Req: at(t0), Provider: ShamirProvider, WrappedRoot: []byte("new-shares"), RootCheck: s.RootCheck, Shamir: &ShamirParams{7, 4}, Previous: []byte("wrapped-by-shamir")})
	got := f.Seal()
	if string(got.WrappedRoot[ShamirProvider]) != "new-shares" || string(got.WrappedRoot["awskms"]) != "wrapped-by-awskms" {
		t.Fatalf("wrapped roots after Rekey: %q", got.WrappedRoot)
	}
	if got.Shamir == nil || *got.Shamir != (ShamirParams{7, 4}) {
		t.Fatalf("share set after Rekey: %+v", got.Shamir)
	}
	if !bytes.Equal(got.RootCheck, s.RootCheck) || len(got.Terms) != len(s.Terms) {
		t.Fatal("Rekey changed the root check or the terms")
	}
	if string(before.WrappedRoot[ShamirProvider]) != "wrapped-by-shamir" || before.Shamir != nil {
		t.Fatal("the old seal was edited in place")
	}
	// A provider not wrapped before is added; the others stay.
	mustApply(t, f, &Rekey{Req: at(t0), Provider: "file", WrappedRoot: []byte("by-file"), RootCheck: s.RootCheck})
	if w := f.Seal().WrappedRoot; len(w) != 3 || string(w["file"]) != "by-file" {
		t.Fatalf("wrapped roots: %q", w)
	}
	g := New()
	if err := restore(g, snapBytes(t, f)); err != nil {
		t.Fatal(err)
	}
	if rs := g.Seal(); rs.Shamir == nil || *rs.Shamir != (ShamirParams{7, 4}) || len(rs.WrappedRoot) != 3 {
		t.Fatalf("restored seal: %+v", rs)
	}
}

// A duplicate request (same request ID) replays the first answer, also for
// seal commands: a retried rotation does not add a second term.
func TestAddTerm_Idempotent(t *testing.T) {
	s := testSeal()
	f := newFSM(t, &InitSeal{Req: at(t0), Seal: s})
	c := &AddTerm{Req: rid("rotate-1", t0), Term: Term{Number: 3, Sealed: []byte("t3")}, RootCheck: s.RootCheck}
	mustApply(t, f, c)
	if err := applyOne(t, f, c); err != nil {
		t.Fatalf("replayed AddTerm: %v", err)
	}
	if n := len(f.Seal().Terms); n != 3 {
		t.Fatalf("%d terms after a replayed AddTerm", n)
	}
}
