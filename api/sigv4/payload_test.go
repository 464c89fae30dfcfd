package sigv4

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// A streamed body: the signature is checked against the digest the client
// declared in X-Amz-Content-Sha256 (and signed over), without the body.
func TestVerifyPayloadHash(t *testing.T) {
	body := []byte(strings.Repeat("snapshot bytes ", 1000))
	declared := payloadHash(body)
	signed := func(hash string) *http.Request {
		r := kmsRequest(t, "/", body)
		r.Header.Set(paramContentSHA256, hash)
		signWith(t, r, body, signOpts{creds: longTermCreds, region: testRegion, service: testService, at: signTime, hash: hash})
		return r
	}
	v := newTestVerifier(signTime)

	p := signed(declared)
	res, err := v.VerifyPayloadHash(p)
	if err != nil {
		t.Fatalf("VerifyPayloadHash: %v", err)
	}
	if res.AccessKeyID != testAKID || res.Principal != testPrincipal {
		t.Fatalf("result = %+v", res)
	}
	if got := DeclaredPayloadHash(p); got != declared {
		t.Fatalf("DeclaredPayloadHash = %q, want %q", got, declared)
	}
	// The same request checked the ordinary way agrees: the declared digest
	// is the body's.
	if _, err := v.Verify(p, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// Declaring another digest after signing breaks the signature.
	p = signed(declared)
	p.Header.Set(paramContentSHA256, payloadHash([]byte("other body")))
	if _, err := v.VerifyPayloadHash(p); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("changed digest: %v, want ErrInvalidSignature", err)
	}

	// No digest, UNSIGNED-PAYLOAD, or one in capitals: refused before any
	// signature work.
	for _, h := range []string{"", unsignedPayload, strings.ToUpper(declared), declared[:63]} {
		p = signed(declared)
		if h == "" {
			p.Header.Del(paramContentSHA256)
		} else {
			p.Header.Set(paramContentSHA256, h)
		}
		if _, err := v.VerifyPayloadHash(p); !errors.Is(err, ErrIncompleteSignature) {
			t.Errorf("header %q: %v, want ErrIncompleteSignature", h, err)
		}
	}
	if _, err := v.VerifyPayloadHash(nil); !errors.Is(err, ErrMissingAuth) {
		t.Errorf("nil request: %v", err)
	}
}
