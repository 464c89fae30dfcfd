package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

const (
	arnRoot  = "arn:aws:iam::111122223333:root"
	arnAlice = "arn:aws:iam::111122223333:user/alice"
	arnApp   = "arn:aws:iam::111122223333:role/app"
)

var genIdentities = []string{arnRoot, arnAlice, arnApp}

func fixtureIdentity(arn string) Identity {
	typ, name := IdentityUser, "alice"
	switch arn {
	case arnRoot:
		typ, name = IdentityRoot, "root"
	case arnApp:
		typ, name = IdentityRole, "app"
	}
	return Identity{ARN: arn, Type: typ, Name: name, CreatedAt: t0}
}

func identityGoldenCommands() []Command {
	full := Identity{
		ARN: arnAlice, Type: IdentityUser, Name: "alice", CreatedAt: t0,
		Tags:       []Tag{{Key: "team", Value: "payments"}},
		Policies:   []NamedPolicy{{Name: "use-keys", Document: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`}},
		AccessKeys: []AccessKey{{ID: "AKIAGOLDENGOLDEN0001", SealedSecret: []byte("sealed-secret-1"), CreatedAt: t0}},
	}
	return []Command{
		&CreateIdentity{Req: goldenReq, Identity: full},
		&DeleteIdentity{Req: goldenReq, ARN: arnAlice},
		&CreateAccessKey{Req: goldenReq, ARN: arnAlice, Key: AccessKey{ID: "AKIAGOLDENGOLDEN0002", SealedSecret: []byte("sealed-secret-2"), CreatedAt: t0}},
		&DeleteAccessKey{Req: goldenReq, ARN: arnAlice, AccessKeyID: "AKIAGOLDENGOLDEN0002"},
		&PutIdentityPolicy{Req: goldenReq, ARN: arnAlice, Policy: NamedPolicy{Name: "p", Document: `{"Statement":[]}`}},
		&DeleteIdentityPolicy{Req: goldenReq, ARN: arnAlice, Name: "p"},
		&SetLevel{Req: goldenReq, Level: 2},
	}
}

// identityCommand generates identity commands over a small pool, so they
// collide: duplicates, missing identities, limits.
func (g *gen) identityCommand(r Req) Command {
	arn := genIdentities[g.c.pick(len(genIdentities))]
	akid := fmt.Sprintf("AKIAGEN%013d", g.c.pick(6))
	switch g.c.pick(8) {
	case 7:
		return &SetLevel{Req: r, Level: uint32(g.c.pick(3))} // 0 is refused
	case 0, 1:
		id := fixtureIdentity(arn)
		if g.c.pick(2) == 0 {
			id.AccessKeys = []AccessKey{{ID: akid, SealedSecret: []byte("s"), CreatedAt: g.at}}
		}
		return &CreateIdentity{Req: r, Identity: id}
	case 2:
		return &DeleteIdentity{Req: r, ARN: arn}
	case 3:
		return &CreateAccessKey{Req: r, ARN: arn, Key: AccessKey{ID: akid, SealedSecret: []byte("s"), CreatedAt: g.at}}
	case 4:
		return &DeleteAccessKey{Req: r, ARN: arn, AccessKeyID: akid}
	case 5:
		return &PutIdentityPolicy{Req: r, ARN: arn, Policy: NamedPolicy{Name: fmt.Sprintf("p%d", g.c.pick(12)), Document: `{"Statement":[]}`}}
	default:
		return &DeleteIdentityPolicy{Req: r, ARN: arn, Name: fmt.Sprintf("p%d", g.c.pick(12))}
	}
}

func TestIdentityLifecycle(t *testing.T) {
	f := New()
	mustApply := func(c Command) {
		t.Helper()
		if err := applyOne(t, f, c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
	wantErr := func(c Command, want error) {
		t.Helper()
		if err := applyOne(t, f, c); !errors.Is(err, want) {
			t.Fatalf("%T: got %v, want %v", c, err, want)
		}
	}
	id := fixtureIdentity(arnAlice)
	id.AccessKeys = []AccessKey{{ID: "AKIA1", SealedSecret: []byte("s1"), CreatedAt: t0}}
	mustApply(&CreateIdentity{Req: at(t0), Identity: id})
	wantErr(&CreateIdentity{Req: at(t0), Identity: fixtureIdentity(arnAlice)}, ErrIdentityExists)
	other := fixtureIdentity(arnApp)
	other.AccessKeys = []AccessKey{{ID: "AKIA1", SealedSecret: []byte("x"), CreatedAt: t0}}
	wantErr(&CreateIdentity{Req: at(t0), Identity: other}, ErrConflict) // access key IDs are unique
	if _, ok := f.Identity(arnApp); ok {
		t.Fatal("a rejected CreateIdentity left an identity behind")
	}
	mustApply(&CreateAccessKey{Req: at(t0), ARN: arnAlice, Key: AccessKey{ID: "AKIA2", SealedSecret: []byte("s2")}})
	wantErr(&CreateAccessKey{Req: at(t0), ARN: arnAlice, Key: AccessKey{ID: "AKIA3", SealedSecret: []byte("s3")}}, ErrLimitExceeded)
	wantErr(&CreateAccessKey{Req: at(t0), ARN: arnApp, Key: AccessKey{ID: "AKIA3", SealedSecret: []byte("s3")}}, ErrIdentityNotFound)
	if got, ak, ok := f.IdentityByAccessKey("AKIA2"); !ok || got.ARN != arnAlice || string(ak.SealedSecret) != "s2" {
		t.Fatalf("IdentityByAccessKey(AKIA2) = %v %v %v", got, ak, ok)
	}
	mustApply(&PutIdentityPolicy{Req: at(t0), ARN: arnAlice, Policy: NamedPolicy{Name: "b", Document: "{}"}})
	mustApply(&PutIdentityPolicy{Req: at(t0), ARN: arnAlice, Policy: NamedPolicy{Name: "a", Document: "{1}"}})
	mustApply(&PutIdentityPolicy{Req: at(t0), ARN: arnAlice, Policy: NamedPolicy{Name: "a", Document: "{2}"}})
	got, _ := f.Identity(arnAlice)
	if len(got.Policies) != 2 || got.Policies[0].Name != "a" || got.Policies[0].Document != "{2}" {
		t.Fatalf("policies = %+v", got.Policies)
	}
	wantErr(&DeleteIdentityPolicy{Req: at(t0), ARN: arnAlice, Name: "zz"}, ErrIdentityNotFound)
	mustApply(&DeleteAccessKey{Req: at(t0), ARN: arnAlice, AccessKeyID: "AKIA1"})
	if _, _, ok := f.IdentityByAccessKey("AKIA1"); ok {
		t.Fatal("a deleted access key still resolves")
	}
	// A snapshot carries identities byte for byte.
	s1 := snapBytes(t, f)
	g := New()
	if err := g.Restore(&closeTracker{Reader: bytes.NewReader(s1)}); err != nil {
		t.Fatal(err)
	}
	if s2 := snapBytes(t, g); !bytes.Equal(s1, s2) {
		t.Fatalf("snapshot after restore differs:\n%s\n%s", s1, s2)
	}
	if got, _, ok := g.IdentityByAccessKey("AKIA2"); !ok || got.ARN != arnAlice {
		t.Fatal("the restored FSM lost the access key index")
	}
	mustApply(&DeleteIdentity{Req: at(t0), ARN: arnAlice})
	if _, _, ok := f.IdentityByAccessKey("AKIA2"); ok {
		t.Fatal("the access key of a deleted identity still resolves")
	}
	if list, more := f.ListIdentities("", 10); len(list) != 0 || more {
		t.Fatalf("ListIdentities = %v %v", list, more)
	}
}

func TestListIdentitiesPages(t *testing.T) {
	f := New()
	for _, arn := range genIdentities {
		if err := applyOne(t, f, &CreateIdentity{Req: at(t0), Identity: fixtureIdentity(arn)}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	after := ""
	for {
		page, more := f.ListIdentities(after, 2)
		for _, id := range page {
			seen = append(seen, id.ARN)
		}
		if !more {
			break
		}
		after = page[len(page)-1].ARN
	}
	if fmt.Sprint(seen) != fmt.Sprint([]string{arnApp, arnRoot, arnAlice}) {
		t.Fatalf("pages = %v", seen)
	}
}
