package kms

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

const (
	testKeyID = "1234abcd-12ab-34cd-56ef-1234567890ab"
	alice     = "arn:aws:iam::111122223333:user/alice"
	bob       = "arn:aws:iam::111122223333:user/bob"
	appRole   = "arn:aws:iam::111122223333:role/team/app"
	appSess   = "arn:aws:sts::111122223333:assumed-role/app/session-1"
)

func grantKey(grants ...fsm.Grant) *fsm.Key {
	for i := range grants {
		grants[i].ID = fmt.Sprintf("%064x", i+1)
	}
	return &fsm.Key{ID: testKeyID, Grants: grants}
}

func ecEq(m map[string]string) *fsm.GrantConstraints {
	return &fsm.GrantConstraints{EncryptionContextEquals: m}
}

func ecSub(m map[string]string) *fsm.GrantConstraints {
	return &fsm.GrantConstraints{EncryptionContextSubset: m}
}

func TestGrantAllows(t *testing.T) {
	k := grantKey(
		fsm.Grant{GranteePrincipal: alice, Operations: []string{"Encrypt", "DescribeKey", "CreateGrant", "RetireGrant"}},
		fsm.Grant{GranteePrincipal: bob, Operations: []string{"Decrypt", "DescribeKey"}, Constraints: ecEq(map[string]string{"a": "1"})},
		fsm.Grant{GranteePrincipal: bob, Operations: []string{"Encrypt"}, Constraints: ecSub(map[string]string{"a": "1", "b": "2"})},
		fsm.Grant{GranteePrincipal: appRole, Operations: []string{"GenerateDataKey", "ReEncryptFrom"}},
		fsm.Grant{GranteePrincipal: bob, Operations: []string{"ReEncryptTo"},
			Constraints: &fsm.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1", "b": "2"}, EncryptionContextSubset: map[string]string{"a": "1"}}},
	)
	for _, tc := range []struct {
		name, who, op string
		ec            map[string]string
		want          bool
	}{
		{"grantee and operation", alice, "Encrypt", nil, true},
		{"grantee, operation not granted", alice, "Decrypt", nil, false},
		{"other principal", "arn:aws:iam::111122223333:user/carol", "Encrypt", nil, false},
		{"no principal", "", "Encrypt", nil, false},
		{"same name, other account", "arn:aws:iam::444455556666:user/alice", "Encrypt", nil, false},
		{"CreateGrant is never a plain grant check", alice, "CreateGrant", nil, false},
		{"RetireGrant is never a plain grant check", alice, "RetireGrant", nil, false},
		{"operation that is not a grant operation", alice, "EnableKey", nil, false},
		{"equals: same context", bob, "Decrypt", map[string]string{"a": "1"}, true},
		{"equals: extra pair", bob, "Decrypt", map[string]string{"a": "1", "x": "y"}, false},
		{"equals: other value", bob, "Decrypt", map[string]string{"a": "2"}, false},
		{"equals: value case differs", bob, "Decrypt", map[string]string{"a": "1 "}, false},
		{"equals: key case differs", bob, "Decrypt", map[string]string{"A": "1"}, false},
		{"equals: no context", bob, "Decrypt", nil, false},
		{"constraint does not apply to DescribeKey", bob, "DescribeKey", nil, true},
		{"subset: exact", bob, "Encrypt", map[string]string{"a": "1", "b": "2"}, true},
		{"subset: more pairs", bob, "Encrypt", map[string]string{"a": "1", "b": "2", "c": "3"}, true},
		{"subset: one pair missing", bob, "Encrypt", map[string]string{"a": "1"}, false},
		{"subset: other value", bob, "Encrypt", map[string]string{"a": "1", "b": "3"}, false},
		{"subset: no context", bob, "Encrypt", nil, false},
		{"both: equals holds", bob, "ReEncryptTo", map[string]string{"a": "1", "b": "2"}, true},
		{"both: only subset holds", bob, "ReEncryptTo", map[string]string{"a": "1"}, false},
		{"role grantee, session caller", appSess, "GenerateDataKey", nil, true},
		{"role grantee, ReEncryptFrom half", appSess, "ReEncryptFrom", nil, true},
		{"role grantee, ReEncryptTo not granted", appSess, "ReEncryptTo", nil, false},
		{"role grantee, GenerateDataKeyWithoutPlaintext is its own operation", appSess, "GenerateDataKeyWithoutPlaintext", nil, false},
		{"session of another role", "arn:aws:sts::111122223333:assumed-role/other/s", "GenerateDataKey", nil, false},
		{"session of the role in another account", "arn:aws:sts::444455556666:assumed-role/app/s", "GenerateDataKey", nil, false},
		{"the role ARN itself", appRole, "GenerateDataKey", nil, true},
	} {
		if got := grantAllows(k, tc.who, tc.op, tc.ec); got != tc.want {
			t.Errorf("%s: grantAllows(%s, %s, %v) = %v, want %v", tc.name, tc.who, tc.op, tc.ec, got, tc.want)
		}
	}
	if grantAllows(&fsm.Key{ID: testKeyID}, alice, "Encrypt", nil) {
		t.Error("a key without grants allowed")
	}
}

// The hot path allocates nothing for users and roles named directly.
func TestGrantAllows_NoAllocations(t *testing.T) {
	k := benchGrantKey(100)
	ec := map[string]string{"tenant": "t-99", "extra": "x"}
	if n := testing.AllocsPerRun(100, func() {
		if !grantAllows(k, "arn:aws:iam::111122223333:user/u99", "Decrypt", ec) {
			t.Fatal("not allowed")
		}
		if grantAllows(k, "arn:aws:iam::111122223333:user/nobody", "Decrypt", ec) {
			t.Fatal("allowed")
		}
	}); n != 0 {
		t.Fatalf("grantAllows allocates %.1f times per call", n)
	}
}

// benchGrantKey has n grants, each to its own user, Decrypt with a
// subset constraint.
func benchGrantKey(n int) *fsm.Key {
	gs := make([]fsm.Grant, n)
	for i := range gs {
		gs[i] = fsm.Grant{
			GranteePrincipal: fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", i),
			Operations:       []string{"Encrypt", "Decrypt", "GenerateDataKey"},
			Constraints:      ecSub(map[string]string{"tenant": fmt.Sprintf("t-%d", i)}),
		}
	}
	return grantKey(gs...)
}

func BenchmarkGrantAllows(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		k := benchGrantKey(n)
		last := fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", n-1)
		ec := map[string]string{"tenant": fmt.Sprintf("t-%d", n-1)}
		b.Run(fmt.Sprintf("grants=%d/last", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !grantAllows(k, last, "Decrypt", ec) {
					b.Fatal("not allowed")
				}
			}
		})
		b.Run(fmt.Sprintf("grants=%d/none", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if grantAllows(k, alice, "Decrypt", ec) {
					b.Fatal("allowed")
				}
			}
		})
	}
}

func TestGrantAllowsGrant(t *testing.T) {
	parent := func(c *fsm.GrantConstraints) *fsm.Key {
		return grantKey(fsm.Grant{GranteePrincipal: alice, Operations: []string{"CreateGrant", "Encrypt", "Decrypt"}, Constraints: c})
	}
	child := func(c *fsm.GrantConstraints, ops ...string) *fsm.Grant {
		return &fsm.Grant{GranteePrincipal: bob, Operations: ops, Constraints: c}
	}
	a1 := map[string]string{"a": "1"}
	a1b2 := map[string]string{"a": "1", "b": "2"}
	for _, tc := range []struct {
		name   string
		parent *fsm.GrantConstraints
		child  *fsm.Grant
		who    string
		want   bool
	}{
		{"same operations", nil, child(nil, "Encrypt", "Decrypt"), alice, true},
		{"fewer operations", nil, child(nil, "Decrypt"), alice, true},
		{"CreateGrant passed on", nil, child(nil, "CreateGrant"), alice, true},
		{"an operation the parent lacks", nil, child(nil, "Decrypt", "DescribeKey"), alice, false},
		{"not the grantee", nil, child(nil, "Decrypt"), bob, false},
		{"no caller", nil, child(nil, "Decrypt"), "", false},
		{"parent subset, child none", ecSub(a1), child(nil, "Decrypt"), alice, false},
		{"parent subset, child same subset", ecSub(a1), child(ecSub(a1), "Decrypt"), alice, true},
		{"parent subset, child wider subset", ecSub(a1), child(ecSub(a1b2), "Decrypt"), alice, true},
		{"parent subset, child other subset", ecSub(a1), child(ecSub(map[string]string{"b": "2"}), "Decrypt"), alice, false},
		{"parent subset, child equals containing it", ecSub(a1), child(ecEq(a1b2), "Decrypt"), alice, true},
		{"parent subset, child equals without it", ecSub(a1), child(ecEq(map[string]string{"a": "2"}), "Decrypt"), alice, false},
		{"parent equals, child same equals", ecEq(a1), child(ecEq(a1), "Decrypt"), alice, true},
		{"parent equals, child larger equals", ecEq(a1), child(ecEq(a1b2), "Decrypt"), alice, false},
		{"parent equals, child subset", ecEq(a1), child(ecSub(a1), "Decrypt"), alice, false},
		{"parent equals, child none", ecEq(a1), child(nil, "Decrypt"), alice, false},
		{"parent none, child constrained", nil, child(ecEq(a1), "Decrypt"), alice, true},
	} {
		if got := grantAllowsGrant(parent(tc.parent), tc.who, tc.child); got != tc.want {
			t.Errorf("%s: grantAllowsGrant = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A grant without CreateGrant allows no grants at all.
	k := grantKey(fsm.Grant{GranteePrincipal: alice, Operations: []string{"Encrypt", "Decrypt"}})
	if grantAllowsGrant(k, alice, child(nil, "Decrypt")) {
		t.Error("a grant without CreateGrant allowed a grant")
	}
}

func TestMayRetire(t *testing.T) {
	g := &fsm.Grant{GranteePrincipal: alice, RetiringPrincipal: appRole, Operations: []string{"Encrypt"}}
	for who, want := range map[string]bool{appRole: true, appSess: true, alice: false, bob: false, "": false} {
		if got := mayRetire(g, who); got != want {
			t.Errorf("mayRetire(%s) = %v, want %v", who, got, want)
		}
	}
	g = &fsm.Grant{GranteePrincipal: alice, Operations: []string{"Encrypt", "RetireGrant"}}
	for who, want := range map[string]bool{alice: true, bob: false, "": false} {
		if got := mayRetire(g, who); got != want {
			t.Errorf("grantee with RetireGrant: mayRetire(%s) = %v, want %v", who, got, want)
		}
	}
}

func TestGrantToken(t *testing.T) {
	gid, err := newGrantID("")
	if err != nil {
		t.Fatal(err)
	}
	if len(gid) != 64 || strings.Trim(gid, "0123456789abcdef") != "" {
		t.Fatalf("grant ID %q is not 64 lowercase hex digits", gid)
	}
	for _, keyID := range []string{testKeyID, "mrk-1234abcd12ab34cd56ef1234567890ab"} {
		t1, err := newGrantToken(keyID, gid)
		if err != nil {
			t.Fatal(err)
		}
		t2, _ := newGrantToken(keyID, gid)
		if t1 == t2 {
			t.Error("two tokens for the same grant are equal")
		}
		if strings.ContainsAny(t1, "+/=") || len(t1) != grantTokenLen {
			t.Errorf("token %q is not unpadded base64url of the expected length", t1)
		}
		for _, tok := range []string{t1, t2} {
			k, g, err := parseGrantToken(tok)
			if err != nil || k != keyID || g != gid {
				t.Fatalf("parse(%s) = %s, %s, %v; want %s, %s", tok, k, g, err, keyID, gid)
			}
		}
	}
	// A retry with the same idempotency ID proposes the same grant.
	a, _ := newGrantID("idem-1")
	b, _ := newGrantID("idem-1")
	c, _ := newGrantID("idem-2")
	if a != b || a == c || len(a) != 64 {
		t.Errorf("derived grant IDs: %s %s %s", a, b, c)
	}
	if _, err := newGrantToken(testKeyID, "not-hex"); err == nil {
		t.Error("token for a malformed grant ID")
	}
}

func TestParseGrantToken_Malformed(t *testing.T) {
	good, _ := newGrantToken(testKeyID, strings.Repeat("ab", 32))
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	mutate := func(f func(b []byte)) string {
		b := append([]byte(nil), raw...)
		f(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for name, tok := range map[string]string{
		"empty":            "",
		"short":            good[:len(good)-1],
		"long":             good + "A",
		"std alphabet":     good[:10] + "+" + good[11:],
		"padded":           good[:len(good)-2] + "==",
		"not base64":       strings.Repeat("!", len(good)),
		"version 0":        mutate(func(b []byte) { b[0] = 0 }),
		"version 2":        mutate(func(b []byte) { b[0] = 2 }),
		"unknown ref type": mutate(func(b []byte) { b[1] = 0x7f }),
		"a foreign token":  "AQpAM2RhZTk1MGMyNTk2ZmZmMzEyYWVhOWViMGMzYmJkYTk5OTM4MmZjZjEyNDA5OGZiMzA3N2UxMWZiMTBkZGFkOGIacQgCEPL9uvnX6kk5SLK8qtKpI8O",
	} {
		if _, _, err := parseGrantToken(tok); err == nil || !isKind(err, ErrInvalidGrantToken) {
			t.Errorf("%s: parseGrantToken(%q) = %v, want InvalidGrantToken", name, tok, err)
		}
	}
}

func isKind(err, kind error) bool {
	e, ok := err.(*Error)
	return ok && e.Kind == kind
}

func FuzzParseGrantToken(f *testing.F) {
	good, _ := newGrantToken(testKeyID, strings.Repeat("0f", 32))
	mrk, _ := newGrantToken("mrk-1234abcd12ab34cd56ef1234567890ab", strings.Repeat("ff", 32))
	for _, s := range []string{good, mrk, "", "AAAA", strings.Repeat("A", grantTokenLen), good[:grantTokenLen-1] + "_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		keyID, grantID, err := parseGrantToken(tok)
		if err != nil {
			if !isKind(err, ErrInvalidGrantToken) || keyID != "" || grantID != "" {
				t.Fatalf("parseGrantToken(%q) = %q, %q, %v", tok, keyID, grantID, err)
			}
			return
		}
		// What parses names a real key ID and a grant ID, and a token
		// made from them parses back to the same.
		if _, err := crypto.ParseKeyID(keyID); err != nil {
			t.Fatalf("key ID %q from %q: %v", keyID, tok, err)
		}
		again, err := newGrantToken(keyID, grantID)
		if err != nil {
			t.Fatalf("newGrantToken(%s, %s): %v", keyID, grantID, err)
		}
		if k2, g2, err := parseGrantToken(again); err != nil || k2 != keyID || g2 != grantID {
			t.Fatalf("round trip of %q: %s %s %v", tok, k2, g2, err)
		}
	})
}

func TestCheckGrantPrincipal(t *testing.T) {
	s := &Service{cfg: Config{Partition: "aws"}}
	for p, ok := range map[string]bool{
		"arn:aws:iam::111122223333:root":                     true,
		"arn:aws:iam::111122223333:user/alice":               true,
		"arn:aws:iam::111122223333:user/division/alice":      true,
		"arn:aws:iam::111122223333:role/app":                 true,
		"arn:aws:iam::111122223333:role/service-role/app":    true,
		"arn:aws:sts::111122223333:assumed-role/app/session": true,
		"arn:aws:sts::111122223333:federated-user/bob":       true,
		"arn:aws:iam::444455556666:user/other-account":       true,
		"arn:aws-cn:iam::111122223333:user/alice":            false, // another partition
		"111122223333":                                               false,
		"alice":                                                      false,
		"arn:aws:iam::111122223333:user/":                            false,
		"arn:aws:iam::111122223333:user//alice":                      false,
		"arn:aws:iam::111122223333:group/admins":                     false,
		"arn:aws:iam::11112222333:user/alice":                        false,
		"arn:aws:iam::1111222233334:user/alice":                      false,
		"arn:aws:iam::11112222333x:user/alice":                       false,
		"arn:aws:iam:us-east-1:111122223333:user/alice":              false,
		"arn:aws:kms:us-east-1:111122223333:key/" + testKeyID:        false,
		"arn:aws:sts::111122223333:assumed-role/app":                 false,
		"arn:aws:sts::111122223333:assumed-role/app/s/extra":         false,
		"arn:aws:sts::111122223333:federated-user/":                  false,
		"kms.amazonaws.com":                                          false,
		"arn:aws:iam::111122223333":                                  false,
		"arn:aws:iam::111122223333:":                                 false,
		"arn:aws:iam::111122223333:root/x":                           false,
		"arn:aws:sts::111122223333:root":                             false,
		"arn:aws:iam::111122223333:user/alice:extra:colons:are:kept": true, // a name may hold colons
	} {
		err := s.checkGrantPrincipal(p)
		if (err == nil) != ok {
			t.Errorf("checkGrantPrincipal(%q) = %v, want ok=%v", p, err, ok)
		}
		if err != nil && !isKind(err, ErrInvalidArn) {
			t.Errorf("checkGrantPrincipal(%q) = %v, want InvalidArn", p, err)
		}
	}
}

// renewCluster is a Cluster whose RenewLease applies the writes another
// node committed and this one has not applied yet, as a real lease renewal
// waits for them.
type renewCluster struct {
	f        *fsm.FSM
	index    uint64
	pending  []fsm.Command
	renewals int
}

func (c *renewCluster) Apply(context.Context, fsm.Command) error { return errors.New("not used") }
func (c *renewCluster) ApplyRevoking(context.Context, fsm.Command) error {
	return errors.New("not used")
}
func (c *renewCluster) ReadReady() error { return nil }
func (c *renewCluster) IsLeader() bool   { return false }

func (c *renewCluster) RenewLease(context.Context) error {
	c.renewals++
	for _, cmd := range c.pending {
		c.apply(cmd)
	}
	c.pending = nil
	return nil
}

func (c *renewCluster) apply(cmd fsm.Command) {
	b, err := fsm.Encode(cmd)
	if err != nil {
		panic(err)
	}
	c.index++
	if res := c.f.Apply(&raft.Log{Index: c.index, Type: raft.LogCommand, Data: b}); res != nil {
		panic(res)
	}
}

func TestWithGrantTokens(t *testing.T) {
	f := fsm.New()
	c := &renewCluster{f: f}
	s := New(Config{Region: "us-east-1", AccountID: "111122223333"}, c, f)
	c.apply(&fsm.CreateKey{Key: fsm.Key{ID: testKeyID, State: fsm.StateEnabled, Materials: []fsm.Material{{Version: 1, Sealed: []byte("s")}}}})
	k, _ := f.Key(testKeyID)
	gid := strings.Repeat("ab", 32)
	tok, err := newGrantToken(testKeyID, gid)
	if err != nil {
		t.Fatal(err)
	}
	// The grant was committed through another node; this one has not
	// applied it: the token makes it wait for it.
	c.pending = []fsm.Command{&fsm.CreateGrant{KeyID: testKeyID, Grant: fsm.Grant{ID: gid, GranteePrincipal: alice, Operations: []string{"Encrypt"}}}}
	if grantAllows(k, alice, "Encrypt", nil) {
		t.Fatal("grant visible before it was applied")
	}
	nk, err := s.withGrantTokens(t.Context(), k, []string{tok})
	if err != nil {
		t.Fatal(err)
	}
	if c.renewals != 1 || !grantAllows(nk, alice, "Encrypt", nil) {
		t.Fatalf("after withGrantTokens: %d renewals, grant allows %v", c.renewals, grantAllows(nk, alice, "Encrypt", nil))
	}
	// A token of a grant the key has: no renewal.
	if _, err := s.withGrantTokens(t.Context(), nk, []string{tok}); err != nil || c.renewals != 1 {
		t.Fatalf("known grant: err %v, %d renewals", err, c.renewals)
	}
	// Tokens of another key are not this key's business; several unknown
	// grants cost one renewal.
	other, _ := newGrantToken("mrk-1234abcd12ab34cd56ef1234567890ab", gid)
	gone1, _ := newGrantToken(testKeyID, strings.Repeat("01", 32))
	gone2, _ := newGrantToken(testKeyID, strings.Repeat("02", 32))
	if _, err := s.withGrantTokens(t.Context(), nk, []string{other}); err != nil || c.renewals != 1 {
		t.Fatalf("other key's token: err %v, %d renewals", err, c.renewals)
	}
	if got, err := s.withGrantTokens(t.Context(), nk, []string{gone1, gone2}); err != nil || c.renewals != 2 || got.Grant(gid) == nil {
		t.Fatalf("unknown grants: err %v, %d renewals", err, c.renewals)
	}
	// A malformed token is refused.
	if _, err := s.withGrantTokens(t.Context(), nk, []string{tok, "garbage"}); !isKind(err, ErrInvalidGrantToken) {
		t.Fatalf("malformed token: %v", err)
	}
}
