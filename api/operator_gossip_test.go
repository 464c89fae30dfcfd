package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kmsnode/kmsnode/kms"
)

// fakeKeyring records what reaches the operator.
type fakeKeyring struct {
	Operator
	op  string
	key []byte // the caller's buffer itself, to check it is wiped
}

func (f *fakeKeyring) GossipKeyring(_ context.Context, op string, key []byte) (any, error) {
	f.op, f.key = op, key
	return map[string]any{"Keys": []any{}}, nil
}

// FuzzGossipKeyringRequest: whatever the body, the operator sees only a
// valid operation with a 32-byte key (none for list), the key buffer is
// zeroed once the call returns, and every refusal is a client error.
func FuzzGossipKeyringRequest(f *testing.F) {
	key := `"` + strings.Repeat("A", 43) + `="`
	for _, s := range []string{
		`{"Op":"list"}`, `{"Op":"install","Key":` + key + `}`, `{"Op":"use","Key":` + key + `}`,
		`{"Op":"remove","Key":` + key + `}`, `{"Op":"list","Key":` + key + `}`, `{"Op":"rotate"}`,
		`{"Op":"install","Key":"AAAA"}`, `{"Op":"install","Key":null}`, `{"Op":"install","Op":"use"}`,
		`{"op":"list"}`, `{}`, ``, `null`, `[]`, "{\"Op\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fk := &fakeKeyring{}
		_, err := gossipKeyringRoute(fk).handle(context.Background(), body)
		if err != nil {
			if a, known := toAWS(err); !known || a.Status != http.StatusBadRequest {
				t.Fatalf("body %q: %v maps to %+v (known %v)", body, err, a, known)
			}
			if fk.op != "" {
				t.Fatalf("body %q refused (%v) after reaching the operator", body, err)
			}
			return
		}
		switch fk.op {
		case "list":
			if fk.key != nil {
				t.Fatalf("list with a key: %q", body)
			}
		case "install", "use", "remove":
			if len(fk.key) != 32 {
				t.Fatalf("%s with a %d-byte key: %q", fk.op, len(fk.key), body)
			}
			if !bytes.Equal(fk.key, make([]byte, 32)) {
				t.Fatalf("the key buffer was not wiped after %s", fk.op)
			}
		default:
			t.Fatalf("operation %q reached the operator: %q", fk.op, body)
		}
	})
}

// An Operator without a gossip pool answers UnsupportedOperation.
func TestGossipKeyringWithoutPool(t *testing.T) {
	_, err := gossipKeyringRoute(struct{ Operator }{}).handle(context.Background(), []byte(`{"Op":"list"}`))
	if !errors.Is(err, kms.ErrUnsupported) {
		t.Fatalf("%v, want UnsupportedOperation", err)
	}
}

// FuzzCheckHeaders: any Content-Type and any repetition of the signature
// headers gets either a pass or a known client error, never a panic.
func FuzzCheckHeaders(f *testing.F) {
	for _, s := range []string{"application/x-amz-json-1.1", "application/json; charset=utf-8", "text/plain", "", "a/b; c=\"", ";;;", "application/x-amz-json-1.1, x"} {
		f.Add(s, uint8(1), uint8(1))
	}
	f.Fuzz(func(t *testing.T, ct string, nAuth, nTarget uint8) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header["Content-Type"] = []string{ct}
		for range nAuth % 3 {
			r.Header.Add("Authorization", "x")
		}
		for range nTarget % 3 {
			r.Header.Add("X-Amz-Target", "TrentService.ListKeys")
		}
		err := checkHeaders(r)
		if err == nil {
			if nAuth%3 > 1 || nTarget%3 > 1 {
				t.Fatalf("repeated headers passed (%d Authorization, %d X-Amz-Target)", nAuth%3, nTarget%3)
			}
			return
		}
		if a, known := toAWS(err); !known || a.Status >= 500 {
			t.Fatalf("%q: %v maps to %+v", ct, err, a)
		}
	})
}
