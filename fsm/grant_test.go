package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

const (
	granteeArn  = "arn:aws:iam::111122223333:role/app"
	retiringArn = "arn:aws:iam::111122223333:user/ops"
	issuingArn  = "arn:aws:iam::111122223333:root"
)

// grantID is a deterministic 64-hex-digit grant ID for n.
func grantID(n int) string { return fmt.Sprintf("%064x", n) }

// fixtureGrant is a grant allowing Encrypt and Decrypt to granteeArn.
func fixtureGrant(n int, opts ...func(*Grant)) Grant {
	g := Grant{
		ID: grantID(n), GranteePrincipal: granteeArn, RetiringPrincipal: retiringArn,
		Operations: []string{"Encrypt", "Decrypt"}, IssuingAccount: issuingArn, CreatedAt: t0,
	}
	for _, o := range opts {
		o(&g)
	}
	return g
}

func named(name string) func(*Grant) { return func(g *Grant) { g.Name = name } }

func createGrant(keyID string, g Grant) *CreateGrant {
	return &CreateGrant{Req: at(t0), KeyID: keyID, Grant: g}
}

func retire(keyID, id string) *RemoveGrant {
	return &RemoveGrant{Req: at(t0), KeyID: keyID, GrantID: id, Reason: GrantRetired}
}

// grantIDs lists the IDs of a key's grants in stored order.
func grantIDs(t testing.TB, f *FSM, keyID string) []string {
	t.Helper()
	var out []string
	for _, g := range mustKey(t, f, keyID).Grants {
		out = append(out, g.ID)
	}
	return out
}

func wantGrants(id string, want ...string) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		if got := grantIDs(t, f, id); !slices.Equal(got, want) {
			t.Fatalf("grants of %s = %v, want %v", id, got, want)
		}
	}
}

// grantGoldenCommands are the golden examples of the grant commands.
func grantGoldenCommands() []Command {
	full := fixtureGrant(7, named("golden-grant"), func(g *Grant) {
		g.Constraints = &GrantConstraints{
			EncryptionContextEquals: map[string]string{"tenant": "acme"},
			EncryptionContextSubset: map[string]string{"purpose": "backup"},
		}
	})
	return []Command{
		&CreateGrant{Req: goldenReq, KeyID: keyA, Grant: full},
		&RemoveGrant{Req: goldenReq, KeyID: keyA, GrantID: grantID(7), Reason: GrantRevoked},
	}
}

// grantCommand generates grant commands over small pools of grant IDs and
// names, so they collide: repeats by name and by ID, missing grants, keys
// pending deletion.
func (g *gen) grantCommand(r Req, key string) Command {
	id := grantID(g.c.pick(6))
	if g.c.pick(3) == 0 {
		return &RemoveGrant{Req: r, KeyID: key, GrantID: id, Reason: []string{GrantRetired, GrantRevoked}[g.c.pick(2)]}
	}
	gr := Grant{
		ID: id, GranteePrincipal: fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", g.c.pick(3)),
		Operations:     [][]string{{"Encrypt"}, {"Decrypt", "Encrypt"}, {"Encrypt", "Decrypt"}, {"DescribeKey"}}[g.c.pick(4)],
		IssuingAccount: issuingArn, CreatedAt: g.at,
	}
	if p := g.c.pick(3); p > 0 {
		gr.Name = fmt.Sprintf("n%d", p)
	}
	if g.c.pick(3) == 0 {
		gr.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"k": fmt.Sprint(g.c.pick(2))}}
	}
	return &CreateGrant{Req: r, KeyID: key, Grant: gr}
}

func TestFSM_CreateGrant(t *testing.T) {
	runApplyCases(t, []applyCase{
		{name: "adds in ID order", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(5))},
			cmd: createGrant(keyA, fixtureGrant(2)), check: wantGrants(keyA, grantID(2), grantID(5))},
		{name: "disabled key", setup: []Command{createKey(keyA), disable(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1)), check: wantGrants(keyA, grantID(1))},
		{name: "pending deletion", setup: []Command{createKey(keyA), schedule(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1)), want: ErrInvalidState, subject: keyA},
		{name: "no key", cmd: createGrant(keyA, fixtureGrant(1)), want: ErrKeyNotFound, subject: keyA},
		{name: "same name and parameters is the same grant", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1, named("n")))},
			cmd: createGrant(keyA, fixtureGrant(2, named("n"), func(g *Grant) {
				g.Operations = []string{"Decrypt", "Encrypt"} // order does not matter
				g.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{}}
				g.CreatedAt = t0 + day
			})),
			check: wantGrants(keyA, grantID(1))},
		{name: "same name, other operations: a new grant", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1, named("n")))},
			cmd:   createGrant(keyA, fixtureGrant(2, named("n"), func(g *Grant) { g.Operations = []string{"Encrypt"} })),
			check: wantGrants(keyA, grantID(1), grantID(2))},
		{name: "same name, other constraint: a new grant", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1, named("n")))},
			cmd: createGrant(keyA, fixtureGrant(2, named("n"), func(g *Grant) {
				g.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}
			})),
			check: wantGrants(keyA, grantID(1), grantID(2))},
		{name: "same name, other retiring principal: a new grant", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1, named("n")))},
			cmd:   createGrant(keyA, fixtureGrant(2, named("n"), func(g *Grant) { g.RetiringPrincipal = "" })),
			check: wantGrants(keyA, grantID(1), grantID(2))},
		{name: "no name: identical parameters make a new grant", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1))},
			cmd: createGrant(keyA, fixtureGrant(2)), check: wantGrants(keyA, grantID(1), grantID(2))},
		{name: "same ID, same grant: replay", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1))},
			cmd: createGrant(keyA, fixtureGrant(1)), check: wantGrants(keyA, grantID(1))},
		{name: "same ID, other grant", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1))},
			cmd: createGrant(keyA, fixtureGrant(1, named("other"))), want: ErrConflict, subject: keyA},
		{name: "no ID", setup: []Command{createKey(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1, func(g *Grant) { g.ID = "" })), want: ErrBadCommand},
		{name: "no grantee", setup: []Command{createKey(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1, func(g *Grant) { g.GranteePrincipal = "" })), want: ErrBadCommand},
		{name: "no operations", setup: []Command{createKey(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1, func(g *Grant) { g.Operations = nil })), want: ErrBadCommand},
		{name: "repeated operation", setup: []Command{createKey(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1, func(g *Grant) { g.Operations = []string{"Encrypt", "Encrypt"} })), want: ErrBadCommand},
		{name: "empty operation", setup: []Command{createKey(keyA)},
			cmd: createGrant(keyA, fixtureGrant(1, func(g *Grant) { g.Operations = []string{""} })), want: ErrBadCommand},
		{name: "limit", setup: []Command{createKey(keyA, withGrants(MaxGrantsPerKey))},
			cmd: createGrant(keyA, fixtureGrant(MaxGrantsPerKey+1)), want: ErrLimitExceeded, subject: keyA},
		{name: "a named repeat at the limit is still the same grant", setup: []Command{createKey(keyA, withGrants(MaxGrantsPerKey))},
			cmd:   createGrant(keyA, fixtureGrant(MaxGrantsPerKey+1, named("g3"))),
			check: func(t *testing.T, f *FSM) { wantLen(t, f, keyA, MaxGrantsPerKey) }},
	})
}

// withGrants gives a new key n named grants g0…, sorted by ID.
func withGrants(n int) func(*Key) {
	return func(k *Key) {
		k.Grants = make([]Grant, n)
		for i := range k.Grants {
			k.Grants[i] = fixtureGrant(i, named(fmt.Sprintf("g%d", i)))
		}
	}
}

func wantLen(t *testing.T, f *FSM, id string, n int) {
	t.Helper()
	if got := len(mustKey(t, f, id).Grants); got != n {
		t.Fatalf("key %s has %d grants, want %d", id, got, n)
	}
}

func TestFSM_RemoveGrant(t *testing.T) {
	two := []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1)), createGrant(keyA, fixtureGrant(2))}
	runApplyCases(t, []applyCase{
		{name: "retire", setup: two, cmd: retire(keyA, grantID(1)), check: wantGrants(keyA, grantID(2))},
		{name: "revoke", setup: two, cmd: &RemoveGrant{Req: at(t0), KeyID: keyA, GrantID: grantID(2), Reason: GrantRevoked},
			check: wantGrants(keyA, grantID(1))},
		{name: "last grant leaves no trace", setup: []Command{createKey(keyA), createGrant(keyA, fixtureGrant(1))},
			cmd: retire(keyA, grantID(1)), check: func(t *testing.T, f *FSM) {
				if g := mustKey(t, f, keyA).Grants; g != nil {
					t.Fatalf("grants = %#v, want nil", g)
				}
				if !bytes.Equal(snapBytes(t, f), snapBytes(t, newFSM(t, createKey(keyA)))) {
					t.Fatal("a key whose only grant was retired encodes differently from one that never had one")
				}
			}},
		{name: "pending deletion", setup: append(slices.Clone(two), schedule(keyA)), cmd: retire(keyA, grantID(1)),
			check: wantGrants(keyA, grantID(2))},
		{name: "unknown grant", setup: two, cmd: retire(keyA, grantID(3)), want: ErrGrantNotFound, subject: grantID(3)},
		{name: "already removed", setup: append(slices.Clone(two), retire(keyA, grantID(1))), cmd: retire(keyA, grantID(1)),
			want: ErrGrantNotFound},
		{name: "grant of another key", setup: append(slices.Clone(two), createKey(keyB)), cmd: retire(keyB, grantID(1)),
			want: ErrGrantNotFound},
		{name: "no key", cmd: retire(keyA, grantID(1)), want: ErrKeyNotFound, subject: keyA},
	})
}

// Grants die with their key.
func TestFSM_GrantsDeletedWithKey(t *testing.T) {
	f := newFSM(t, createKey(keyA), createGrant(keyA, fixtureGrant(1, func(g *Grant) { g.RetiringPrincipal = "p" })), schedule(keyA),
		&DeleteKey{Req: at(t0 + 8*day), KeyID: keyA})
	if _, ok := f.Key(keyA); ok {
		t.Fatal("key still there")
	}
	if gs, _ := f.RetirableGrants("p", "", "", 10); len(gs) != 0 {
		t.Fatalf("grants of a deleted key still listed: %v", gs)
	}
	// A new key of the same ID starts without them.
	mustApply(t, f, createKey(keyA))
	wantLen(t, f, keyA, 0)
}

// A reader's *Key never changes when grants come and go.
func TestFSM_GrantRecordsImmutable(t *testing.T) {
	f := newFSM(t, createKey(keyA), createGrant(keyA, fixtureGrant(1)))
	old := mustKey(t, f, keyA)
	before := deepCopyJSON(t, old)
	mustApply(t, f, createGrant(keyA, fixtureGrant(2, func(g *Grant) {
		g.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}
	})), retire(keyA, grantID(1)))
	if deepCopyJSON(t, old) != before {
		t.Fatal("a published key record changed")
	}
	// The repeat by name installs no new record.
	mustApply(t, f, createGrant(keyA, fixtureGrant(3, named("n"))))
	k := mustKey(t, f, keyA)
	mustApply(t, f, createGrant(keyA, fixtureGrant(4, named("n"))))
	if mustKey(t, f, keyA) != k {
		t.Fatal("a repeated named grant replaced the key record")
	}
	checkIndex(t, f)
}

// A retried command (same request ID) answers as the first time did and
// adds nothing.
func TestFSM_CreateGrant_RequestID(t *testing.T) {
	f := newFSM(t, createKey(keyA))
	cmd := &CreateGrant{Req: rid("r-grant", t0), KeyID: keyA, Grant: fixtureGrant(1)}
	mustApply(t, f, cmd, cmd)
	wantLen(t, f, keyA, 1)
	rm := &RemoveGrant{Req: rid("r-rm", t0), KeyID: keyA, GrantID: grantID(1), Reason: GrantRetired}
	mustApply(t, f, rm)
	if err := applyOne(t, f, rm); err != nil {
		t.Fatalf("replayed RemoveGrant = %v, want its first answer (success)", err)
	}
	if err := applyOne(t, f, retire(keyA, grantID(1))); !errors.Is(err, ErrGrantNotFound) {
		t.Fatalf("fresh RemoveGrant of a removed grant = %v", err)
	}
}

func TestFSM_GrantSnapshotRoundTrip(t *testing.T) {
	f := newFSM(t, createKey(keyA), createKey(keyB),
		createGrant(keyA, fixtureGrant(3, named("x"), func(g *Grant) {
			g.Constraints = &GrantConstraints{
				EncryptionContextEquals: map[string]string{"b": "2", "a": "1", "é": "\u2028"},
				EncryptionContextSubset: map[string]string{"z": ""},
			}
		})),
		createGrant(keyA, fixtureGrant(1)), createGrant(keyB, fixtureGrant(2)))
	s1 := snapBytes(t, f)
	if !bytes.Contains(s1, []byte(`"grants":[`)) {
		t.Fatalf("snapshot has no grants: %s", s1)
	}
	g := New()
	if err := restore(g, s1); err != nil {
		t.Fatal(err)
	}
	if s2 := snapBytes(t, g); !bytes.Equal(s1, s2) {
		t.Fatalf("snapshot changed across Restore:\n%s\n%s", s1, s2)
	}
	for _, id := range []string{keyA, keyB} {
		if a, b := mustKey(t, f, id), mustKey(t, g, id); !reflect.DeepEqual(a.Grants, b.Grants) {
			t.Fatalf("grants of %s after restore:\n%#v\nwant\n%#v", id, b.Grants, a.Grants)
		}
	}
	// The restored state goes on applying grant commands identically.
	for _, c := range []Command{retire(keyA, grantID(3)), createGrant(keyB, fixtureGrant(9, named("x")))} {
		r1, r2 := applyOne(t, f, c), applyOne(t, g, c)
		if !reflect.DeepEqual(r1, r2) {
			t.Fatalf("%T: %v vs %v", c, r1, r2)
		}
	}
	if !bytes.Equal(snapBytes(t, f), snapBytes(t, g)) {
		t.Fatal("original and restored FSMs diverged")
	}
}

func TestKey_GrantLookupAndPaging(t *testing.T) {
	f := newFSM(t, createKey(keyA))
	for _, n := range []int{9, 3, 7, 1, 5} {
		mustApply(t, f, createGrant(keyA, fixtureGrant(n, func(g *Grant) {
			if n > 4 {
				g.GranteePrincipal = "other"
			}
		})))
	}
	k := mustKey(t, f, keyA)
	if g := k.Grant(grantID(7)); g == nil || g.ID != grantID(7) {
		t.Fatalf("Grant(7) = %v", g)
	}
	if k.Grant(grantID(4)) != nil || k.Grant("") != nil {
		t.Fatal("Grant found a grant that is not there")
	}
	var got []string
	after := ""
	for {
		page, more := k.GrantsAfter(after, 2, nil)
		for _, g := range page {
			got = append(got, g.ID)
		}
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if want := []string{grantID(1), grantID(3), grantID(5), grantID(7), grantID(9)}; !slices.Equal(got, want) {
		t.Fatalf("paged grants = %v, want %v", got, want)
	}
	page, more := k.GrantsAfter("", 2, func(g *Grant) bool { return g.GranteePrincipal == "other" })
	if len(page) != 2 || !more || page[0].ID != grantID(5) || page[1].ID != grantID(7) {
		t.Fatalf("filtered page = %v, more %v", page, more)
	}
	// A page that ends exactly at the last match reports no more.
	if page, more := k.GrantsAfter(grantID(5), 2, func(g *Grant) bool { return g.GranteePrincipal == "other" }); len(page) != 2 || more {
		t.Fatalf("last filtered page = %d grants, more %v", len(page), more)
	}
}

func TestFSM_RetirableGrants(t *testing.T) {
	f := newFSM(t, createKey(keyC), createKey(keyA), createKey(keyB))
	want := []KeyGrant{}
	for i, id := range []string{keyA, keyB, keyC} {
		for n := 0; n < 3; n++ {
			g := fixtureGrant(10*i+n, func(g *Grant) {
				if n == 1 {
					g.RetiringPrincipal = "someone-else"
				}
			})
			mustApply(t, f, createGrant(id, g))
			if n != 1 {
				want = append(want, KeyGrant{KeyID: id, Grant: &Grant{ID: g.ID}})
			}
		}
	}
	for _, size := range []int{1, 2, 3, 6, 100} {
		var got []KeyGrant
		ak, ag := "", ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			page, more := f.RetirableGrants(retiringArn, ak, ag, size)
			if len(page) > size {
				t.Fatalf("page of %d for limit %d", len(page), size)
			}
			got = append(got, page...)
			if !more {
				break
			}
			ak, ag = page[len(page)-1].KeyID, page[len(page)-1].Grant.ID
		}
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d grants, want %d", size, len(got), len(want))
		}
		for i := range got {
			if got[i].KeyID != want[i].KeyID || got[i].Grant.ID != want[i].Grant.ID || got[i].Grant.RetiringPrincipal != retiringArn {
				t.Fatalf("limit %d: grant %d = %s/%s, want %s/%s", size, i, got[i].KeyID, got[i].Grant.ID, want[i].KeyID, want[i].Grant.ID)
			}
		}
	}
	// Resuming after a key that has since been deleted continues with the next.
	if page, _ := f.RetirableGrants(retiringArn, keyA+"-gone", grantID(0), 1); len(page) != 1 || page[0].KeyID != keyB {
		t.Fatalf("resume after a missing key = %v", page)
	}
	if page, more := f.RetirableGrants("nobody", "", "", 5); len(page) != 0 || more {
		t.Fatalf("grants of nobody = %v", page)
	}
}

func TestGrant_SameAs(t *testing.T) {
	base := fixtureGrant(1, func(g *Grant) {
		g.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1"}}
	})
	for name, tc := range map[string]struct {
		edit func(*Grant)
		same bool
	}{
		"identical":           {func(*Grant) {}, true},
		"operations reversed": {func(g *Grant) { g.Operations = []string{"Decrypt", "Encrypt"} }, true},
		"other ID and time":   {func(g *Grant) { g.ID, g.CreatedAt = grantID(2), t0+1 }, true},
		"fewer operations":    {func(g *Grant) { g.Operations = []string{"Encrypt"} }, false},
		"other operation":     {func(g *Grant) { g.Operations = []string{"Encrypt", "DescribeKey"} }, false},
		"other grantee":       {func(g *Grant) { g.GranteePrincipal += "x" }, false},
		"no retiring":         {func(g *Grant) { g.RetiringPrincipal = "" }, false},
		"no constraint":       {func(g *Grant) { g.Constraints = nil }, false},
		"equals, not subset": {func(g *Grant) {
			g.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}
		}, false},
		"other value": {func(g *Grant) {
			g.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "2"}}
		}, false},
		"extra empty equals": {func(g *Grant) {
			g.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1"}, EncryptionContextEquals: map[string]string{}}
		}, true},
	} {
		o := fixtureGrant(1, func(g *Grant) {
			g.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1"}}
		})
		tc.edit(&o)
		if got := base.SameAs(&o); got != tc.same {
			t.Errorf("%s: SameAs = %v, want %v", name, got, tc.same)
		}
		if got := o.SameAs(&base); got != tc.same {
			t.Errorf("%s (reversed): SameAs = %v, want %v", name, got, tc.same)
		}
	}
	var empty *GrantConstraints
	if empty.Normalized() != nil || (&GrantConstraints{EncryptionContextEquals: map[string]string{}}).Normalized() != nil {
		t.Error("an empty constraint is not normalized to nil")
	}
}

// BenchmarkApplyCreateGrant measures CreateGrant on a key that already has
// n grants: the copy of the grant slice dominates at the quota.
func BenchmarkApplyCreateGrant(b *testing.B) {
	for _, n := range []int{0, 1_000, MaxGrantsPerKey - 1} {
		b.Run(fmt.Sprintf("grants=%d", n), func(b *testing.B) {
			f := newFSM(b, createKey(keyA, withGrants(n)))
			logs := make([]*raft.Log, 2)
			logs[0] = makeLog(b, 0, createGrant(keyA, fixtureGrant(n+1)))
			logs[1] = makeLog(b, 0, retire(keyA, grantID(n+1)))
			b.ReportAllocs()
			i := f.AppliedIndex()
			for b.Loop() {
				for _, l := range logs {
					i++
					l.Index = i
					if res := f.Apply(l); res != nil {
						b.Fatal(res)
					}
				}
			}
		})
	}
}
