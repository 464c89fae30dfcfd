package fsm

import (
	"bytes"
	"errors"
	"flag"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.v1.bin from the example commands")

// goldenReq is the Req of every golden command.
var goldenReq = Req{ID: "req-7d3f7a3e-golden", At: t0}

// goldenCommands has one fully populated example per command type: every
// field non-zero, so a renamed or dropped JSON field changes the encoding.
func goldenCommands() []Command {
	fullKey := fixtureKey(keyA, func(k *Key) {
		k.Description = "golden key: every field set"
		k.MultiRegion = true
		k.State = StatePendingDeletion
		k.DeletionDate = t0 + 30*day
		k.PendingWindowDays = 30
		k.Tags = []Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "kms"}}
		k.Rotation = Rotation{Enabled: true, PeriodDays: 365, NextAt: t0 + 365*day, OnDemandCount: 2, OnDemandAt: t0 - day}
		k.Materials = []Material{
			{Version: 1, Sealed: sealedBlob(keyA, 1), CreatedAt: t0 - 2*day},
			{Version: 2, Sealed: sealedBlob(keyA, 2), CreatedAt: t0 - day, RotationType: RotationOnDemand},
		}
	})
	return append([]Command{
		&InitSeal{Req: goldenReq, Seal: testSeal()},
		&CreateKey{Req: goldenReq, Key: fullKey},
		&UpdateDescription{Req: goldenReq, KeyID: keyA, Description: "new description"},
		&EnableKey{Req: goldenReq, KeyID: keyA},
		&DisableKey{Req: goldenReq, KeyID: keyA},
		&ScheduleDeletion{Req: goldenReq, KeyID: keyA, WindowDays: 7, DeletionDate: t0 + 7*day},
		&CancelDeletion{Req: goldenReq, KeyID: keyA},
		&DeleteKey{Req: goldenReq, KeyID: keyA},
		&CreateAlias{Req: goldenReq, Name: "alias/golden", KeyID: keyA},
		&UpdateAlias{Req: goldenReq, Name: "alias/golden", KeyID: keyB},
		&DeleteAlias{Req: goldenReq, Name: "alias/golden"},
		&TagResource{Req: goldenReq, KeyID: keyA, Tags: []Tag{{Key: "env", Value: "prod"}, {Key: "cost-center", Value: "42"}}},
		&UntagResource{Req: goldenReq, KeyID: keyA, Keys: []string{"env", "cost-center"}},
		&PutKeyPolicy{Req: goldenReq, KeyID: keyA, Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`},
		&SetRotation{Req: goldenReq, KeyID: keyA, Enabled: true, PeriodDays: 90, NextAt: t0 + 90*day},
		&RotateKey{Req: goldenReq, KeyID: keyA, Material: Material{Version: 3, Sealed: sealedBlob(keyA, 3), CreatedAt: t0, RotationType: RotationAutomatic}, NextAt: t0 + 365*day},
	}, append(identityGoldenCommands(), append(grantGoldenCommands(), sealGoldenCommands()...)...)...)
}

// commandTypeConst is one CmdX constant as declared in commands.go.
type commandTypeConst struct {
	name string
	typ  CommandType
}

// declaredCommandTypes type-checks commands.go on its own and returns every
// constant of type CommandType except IgnorableFlag, in declaration order.
// Reading the source (rather than a list in this file) is what makes the
// registration checks catch a newly added constant.
func declaredCommandTypes(t *testing.T) []commandTypeConst {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "commands.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Imports are not resolved; constant values do not depend on them.
	conf := types.Config{Error: func(error) {}, Importer: nil}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check("fsm", fset, []*ast.File{file}, info)
	var out []commandTypeConst
	for _, d := range file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			for _, name := range spec.(*ast.ValueSpec).Names {
				c, ok := info.Defs[name].(*types.Const)
				if !ok || c.Type() != pkg.Scope().Lookup("CommandType").Type() || name.Name == "IgnorableFlag" {
					continue
				}
				v, exact := constant.Uint64Val(c.Val())
				if !exact || v > 0xff {
					t.Fatalf("%s = %v is not a uint8", name.Name, c.Val())
				}
				out = append(out, commandTypeConst{name.Name, CommandType(v)})
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no CommandType constants found in commands.go")
	}
	return out
}

// goldenName turns CmdCreateKey into create_key.
func goldenName(constName string) string {
	var b strings.Builder
	for i, r := range strings.TrimPrefix(constName, "Cmd") {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func goldenPath(constName string) string {
	return filepath.Join("testdata", "golden", goldenName(constName)+".v1.bin")
}

func TestCommandType_UniqueAndRegistered(t *testing.T) {
	seen := map[CommandType]string{}
	for _, c := range declaredCommandTypes(t) {
		if prev, dup := seen[c.typ]; dup {
			t.Errorf("%s and %s share type %d", prev, c.name, c.typ)
		}
		seen[c.typ] = c.name
		if c.typ == 0 {
			t.Errorf("%s is 0; type 0 is reserved for a zero byte", c.name)
		}
		// newCommand strips the flag, so a constant carrying it could never
		// be decoded back to itself.
		if c.typ&IgnorableFlag != 0 {
			t.Errorf("%s = %#x carries IgnorableFlag; set the flag when encoding, not in the constant", c.name, uint8(c.typ))
		}
		cmd := newCommand(c.typ)
		if cmd == nil {
			t.Errorf("%s (%d) has no newCommand entry", c.name, c.typ)
			continue
		}
		if got := cmd.Type(); got != c.typ {
			t.Errorf("newCommand(%s).Type() = %d, want %d", c.name, got, c.typ)
		}
		if cmd.req() == nil {
			t.Errorf("newCommand(%s).req() is nil", c.name)
		}
	}
	// The other way round: newCommand knows nothing undeclared.
	for i := 0; i < int(IgnorableFlag); i++ {
		if cmd := newCommand(CommandType(i)); cmd != nil {
			if _, ok := seen[CommandType(i)]; !ok {
				t.Errorf("newCommand(%d) returns %T, which has no constant", i, cmd)
			}
		}
	}
	// Every declared type has an apply rule (st.apply must not fall through
	// to "no apply rule").
	for typ, name := range seen {
		cmd := newCommand(typ)
		if cmd == nil {
			continue
		}
		if _, err := newState().apply(cmd); err != nil && strings.Contains(err.Error(), "no apply rule") {
			t.Errorf("%s has no apply rule: %v", name, err)
		}
	}
}

func TestCommand_Golden(t *testing.T) {
	examples := map[CommandType]Command{}
	for _, c := range goldenCommands() {
		if _, dup := examples[c.Type()]; dup {
			t.Fatalf("two golden examples for type %d", c.Type())
		}
		examples[c.Type()] = c
	}
	for _, ct := range declaredCommandTypes(t) {
		t.Run(goldenName(ct.name), func(t *testing.T) {
			cmd, ok := examples[ct.typ]
			if !ok {
				t.Fatalf("no golden example for %s; add one to goldenCommands", ct.name)
			}
			assertFullyPopulated(t, reflect.ValueOf(cmd).Elem(), ct.name)
			got, err := Encode(cmd)
			if err != nil {
				t.Fatal(err)
			}
			path := goldenPath(ct.name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./fsm -run TestCommand_Golden -update once for a new type)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode(%s) changed: a released encoding must not change; add a new type instead\n got: %q\nwant: %q", ct.name, got, want)
			}
			if want[0]&^byte(IgnorableFlag) != byte(ct.typ) || (want[0]&byte(IgnorableFlag) != 0) != ignorableTypes[ct.typ] {
				t.Errorf("golden type byte = %d, want %d", want[0], ct.typ)
			}
			dec, ign, err := Decode(want)
			if err != nil || ign {
				t.Fatalf("Decode(golden) = %v, ignorable %v", err, ign)
			}
			if !reflect.DeepEqual(dec, cmd) {
				t.Errorf("Decode(golden) = %#v\nwant %#v", dec, cmd)
			}
		})
	}
}

// assertFullyPopulated fails if any field of v (recursively through structs)
// has its zero value, so golden examples pin every field.
func assertFullyPopulated(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			assertFullyPopulated(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice, reflect.Map:
		// A new key has no grants: they arrive by CreateGrant only.
		if v.Len() == 0 && path != "CmdCreateKey.Key.Grants" {
			t.Errorf("golden example: %s is empty", path)
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				assertFullyPopulated(t, v.Index(i), path+"[]")
			}
		}
	default:
		// The v0.1 InitSeal golden predates Seal.Shamir (omitted when nil).
		if v.IsZero() && !(path == "CmdCreateKey.Key.Materials[].RotationType" && v.String() == "") && path != "CmdInitSeal.Seal.Shamir" {
			t.Errorf("golden example: %s is zero", path)
		}
	}
}

func TestDecode_Errors(t *testing.T) {
	tests := []struct {
		name          string
		in            []byte
		wantIgnorable bool
	}{
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"type zero", []byte("\x00{}"), false},
		{"unknown type", []byte("\x7f{}"), false},
		{"unknown type no body", []byte{0x7f}, false},
		{"unknown ignorable type", []byte("\xff{}"), true},
		{"unknown ignorable type garbage body", []byte("\xfe\x00\x01"), true},
		{"ignorable flag alone", []byte{0x80}, true},
		{"bad json", []byte("\x02{not json"), false},
		{"no body", []byte{byte(CmdCreateKey)}, false},
		{"truncated", []byte("\x02" + `{"rid":"x","key":{"id":`), false},
		{"wrong field type", []byte("\x03{\"key_id\":5}"), false},
		{"array body", []byte("\x04[]"), false},
		{"trailing garbage", []byte("\x04{} x"), false},
		{"known type with flag, bad json", []byte("\x84{"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ign, err := Decode(tt.in)
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("Decode(%q) err = %v, want ErrBadCommand", tt.in, err)
			}
			if c != nil {
				t.Errorf("Decode(%q) returned command %#v with an error", tt.in, c)
			}
			if ign != tt.wantIgnorable {
				t.Errorf("Decode(%q) ignorable = %v, want %v", tt.in, ign, tt.wantIgnorable)
			}
		})
	}
}

// A known type with the ignorable bit decodes as that type (the flag is a
// hint for nodes that do not know the type, as in Consul).
func TestDecode_KnownTypeWithIgnorableFlag(t *testing.T) {
	b, err := Encode(&EnableKey{Req: at(t0), KeyID: keyA})
	if err != nil {
		t.Fatal(err)
	}
	b[0] |= byte(IgnorableFlag)
	c, ign, err := Decode(b)
	if err != nil || ign {
		t.Fatalf("Decode = %v, ignorable %v", err, ign)
	}
	if got, ok := c.(*EnableKey); !ok || got.KeyID != keyA {
		t.Fatalf("Decode = %#v, want *EnableKey for %s", c, keyA)
	}
}

// Bodies only gain fields: an old encoding without a new field, and an
// encoding with fields this release does not know, both decode.
func TestDecode_Compatible(t *testing.T) {
	c, _, err := Decode([]byte("\x03{\"rid\":\"r\",\"at\":5,\"key_id\":\"k\",\"description\":\"d\",\"field_from_the_future\":{\"x\":[1]}}"))
	if err != nil {
		t.Fatal(err)
	}
	want := &UpdateDescription{Req: Req{ID: "r", At: 5}, KeyID: "k", Description: "d"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Decode = %#v, want %#v", c, want)
	}
	c, _, err = Decode([]byte("\x0f{\"key_id\":\"k\"}"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, &SetRotation{KeyID: "k"}) {
		t.Errorf("Decode = %#v", c)
	}
}

func TestEncode_RoundTrip(t *testing.T) {
	for _, c := range goldenCommands() {
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%T)): %v", c, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %T: got %#v", c, got)
		}
	}
}
