package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kmsnode/kmsnode/api/wire"
)

func TestDecodeRequestRules(t *testing.T) {
	cases := []struct {
		name, in  string
		ok        bool
		wantKeyID string
		wantEC    map[string]string
	}{
		{"exact", `{"KeyId":"k","Plaintext":"eA=="}`, true, "k", nil},
		{"other case is an unknown member", `{"keyid":"k","Plaintext":"eA=="}`, true, "", nil},
		{"other case beside the exact name", `{"KEYID":"k","KeyId":"real"}`, true, "real", nil},
		{"nested names kept verbatim", `{"EncryptionContext":{"keyid":"x","KeyId":"y"},"KeyId":"k"}`, true, "k", map[string]string{"keyid": "x", "KeyId": "y"}},
		{"unknown members ignored", ` { "KeyId" : "k" , "Other" : [1,{"a":"}"}] } `, true, "k", nil},
		{"escaped name", `{"\u004beyId":"k"}`, true, "k", nil},
		{"duplicate member", `{"KeyId":"a","KeyId":"b"}`, false, "", nil},
		{"duplicate context key", `{"KeyId":"k","EncryptionContext":{"a":"1","a":"2"}}`, false, "", nil},
		{"context not an object", `{"EncryptionContext":["a"]}`, false, "", nil},
		{"context value not a string", `{"EncryptionContext":{"a":1}}`, false, "", nil},
		{"null context", `{"EncryptionContext":null,"KeyId":"k"}`, true, "k", nil},
		{"invalid UTF-8", "{\"KeyId\":\"\xff\"}", false, "", nil},
		{"bad base64", `{"Plaintext":"not base64!"}`, false, "", nil},
		{"trailing garbage", `{"KeyId":"k"} x`, false, "", nil},
		{"not an object", `[]`, false, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r wire.EncryptRequest
			err := decodeRequest([]byte(c.in), &r)
			if (err == nil) != c.ok {
				t.Fatalf("decode %s: err = %v, want ok=%v", c.in, err, c.ok)
			}
			if !c.ok {
				return
			}
			if r.KeyId != c.wantKeyID {
				t.Errorf("KeyId = %q, want %q", r.KeyId, c.wantKeyID)
			}
			if c.wantEC != nil && !reflect.DeepEqual(map[string]string(r.EncryptionContext), c.wantEC) {
				t.Errorf("EncryptionContext = %v, want %v", r.EncryptionContext, c.wantEC)
			}
		})
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"KeyId":"k","Plaintext":"eA==","EncryptionContext":{"a":"b"}}`))
	f.Add([]byte(`{"a":[{"b":"\"}"}],"KeyId":"\u004b","GrantTokens":["t"],"DryRun":true}`))
	f.Add([]byte(`{"EncryptionContext":{"a":"1","a":"2"}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r1 wire.EncryptRequest
		if decodeRequest(b, &r1) != nil {
			return
		}
		// Whatever decodes must survive a round trip unchanged.
		again, err := json.Marshal(&r1)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var r2 wire.EncryptRequest
		if err := decodeRequest(again, &r2); err != nil {
			t.Fatalf("re-decode %s: %v", again, err)
		}
		if !reflect.DeepEqual(normalize(r1), normalize(r2)) {
			t.Fatalf("round trip changed the request: %+v vs %+v", r1, r2)
		}
	})
}

// normalize maps empty slices and maps to nil: omitempty drops them.
func normalize(r wire.EncryptRequest) wire.EncryptRequest {
	if len(r.Plaintext) == 0 {
		r.Plaintext = nil
	}
	if len(r.EncryptionContext) == 0 {
		r.EncryptionContext = nil
	}
	if len(r.GrantTokens) == 0 {
		r.GrantTokens = nil
	}
	return r
}

// encryptBody is an Encrypt request as the AWS SDKs send it.
func encryptBody(n int) []byte {
	p := make([]byte, n)
	rand.Read(p)
	return []byte(`{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",` +
		`"Plaintext":"` + base64.StdEncoding.EncodeToString(p) + `","EncryptionContext":{"purpose":"bench"}}`)
}

// BenchmarkDecodeRequest compares the request codec (json/v2) with
// encoding/json on the same bodies; DESIGN.md 18 records the choice.
func BenchmarkDecodeRequest(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"32B", 32}, {"4KiB", 4096}} {
		body := encryptBody(size.n)
		b.Run("codec="+"v2/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var r wire.EncryptRequest
				if err := decodeRequest(body, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("codec="+"encoding-json/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var r wire.EncryptRequest
				if err := json.Unmarshal(body, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeResponse times the response encoders of the hot path: an
// Encrypt answer (encoding/json) and a GenerateDataKey answer, which
// carries a secret and is written by secret_json.go.
func BenchmarkEncodeResponse(b *testing.B) {
	arn := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	enc := &wire.EncryptResponse{CiphertextBlob: make([]byte, 4096+72), KeyId: arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}
	gdk := &wire.GenerateDataKeyResponse{CiphertextBlob: make([]byte, 32+72), Plaintext: make([]byte, 32), KeyId: arn}
	var buf bytes.Buffer
	b.Run("Encrypt4KiB", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := json.NewEncoder(&buf).Encode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GenerateDataKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if !encodeSecret(&buf, gdk) {
				b.Fatal("GenerateDataKeyResponse is not a secret-bearing response")
			}
		}
	})
}
