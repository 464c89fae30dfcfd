package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kmsnode/kmsnode/api/wire"
)

func TestExactMembers(t *testing.T) {
	typ := reflect.TypeFor[wire.EncryptRequest]()
	cases := []struct{ in, wantKeyID string }{
		{`{"KeyId":"k","Plaintext":"eA=="}`, "k"},
		{`{"keyid":"k","Plaintext":"eA=="}`, ""},
		{`{"KEYID":"k","KeyId":"real"}`, "real"},
		{`{"EncryptionContext":{"keyid":"x"},"KeyId":"k"}`, "k"}, // nested names untouched
		{` { "KeyId" : "k" , "Other" : [1,{"a":"}"}] } `, "k"},
	}
	for _, c := range cases {
		var r wire.EncryptRequest
		if err := json.Unmarshal(exactMembers([]byte(c.in), typ), &r); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if r.KeyId != c.wantKeyID {
			t.Errorf("%s: KeyId = %q, want %q", c.in, r.KeyId, c.wantKeyID)
		}
	}
	// An all-exact body is passed through as is (the fast path).
	in := []byte(`{"KeyId":"k","EncryptionContext":{"a":"b"}}`)
	if out := exactMembers(in, typ); &out[0] != &in[0] {
		t.Error("exact body was copied")
	}
}

func FuzzExactMembers(f *testing.F) {
	f.Add([]byte(`{"KeyId":"k","plaintext":"eA=="}`))
	f.Add([]byte(`{"a":[{"b":"\"}"}],"KeyId":"\u004b"}`))
	f.Add([]byte(`[`))
	typ := reflect.TypeFor[wire.EncryptRequest]()
	f.Fuzz(func(t *testing.T, b []byte) {
		out := exactMembers(b, typ)
		// Whatever survives must decode the same way a second time.
		var r1, r2 wire.EncryptRequest
		e1 := json.Unmarshal(out, &r1)
		e2 := json.Unmarshal(exactMembers(out, typ), &r2)
		if (e1 == nil) != (e2 == nil) {
			t.Fatalf("not idempotent: %v vs %v", e1, e2)
		}
	})
}
