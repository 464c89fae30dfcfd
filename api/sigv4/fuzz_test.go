package sigv4

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzVerify feeds arbitrary Authorization headers, X-Amz-Date values,
// request targets (path and query, including presign parameters) and bodies
// to Verify, which must never panic and must return either a Result or one
// of the package's errors.
func FuzzVerify(f *testing.F) {
	body := []byte(encryptBody)
	r := kmsRequest(f, "/", body)
	sign(f, r, body)
	f.Add(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), "/", body)

	r = kmsRequest(f, "/a%20b/ሴ/./../c?b=2&a=1&a=%zz+", body)
	sign(f, r, body)
	f.Add(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), r.URL.RequestURI(), body)

	pr := presign(f, kmsRequest(f, "/?X-Amz-Expires=300", body), body, defaultSignOpts())
	f.Add("", "", pr.URL.RequestURI(), body)

	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=;;;, Signature=", "20261123T101500Z", "//..//", []byte{})
	f.Add("AWS4-HMAC-SHA256 Credential=////, SignedHeaders=host, Signature=zz", "x", "/?X-Amz-Algorithm&X-Amz-Expires=-1", []byte(nil))
	f.Add(",,,=,=", "", "?", []byte("x"))

	v := newTestVerifier(signTime, func(o *Options) { o.KeyCacheSize = 4 })
	vAny := newTestVerifier(signTime, func(o *Options) { o.Region = "" })
	f.Fuzz(func(t *testing.T, authz, amzDate, target string, body []byte) {
		req := &http.Request{
			Method:     http.MethodPost,
			URL:        &url.URL{Path: "/"},
			Host:       testHost,
			RequestURI: target,
			Header: http.Header{
				"Content-Type":   {"application/x-amz-json-1.1"},
				"X-Amz-Target":   {"TrentService.Encrypt"},
				"Content-Length": {"86"},
			},
			ContentLength: int64(len(body)),
		}
		if !strings.HasPrefix(target, "/") {
			if u, err := url.Parse(target); err == nil {
				req.URL = u
			}
		}
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		if amzDate != "" {
			req.Header.Set("X-Amz-Date", amzDate)
		}
		for _, v := range []*Verifier{v, vAny} {
			res, err := v.Verify(req, body)
			if err != nil {
				if Message(err) == "" {
					t.Fatalf("error without message: %v", err)
				}
				if res != (Result{}) {
					t.Fatalf("result with error: %+v", res)
				}
				continue
			}
			if res.AccessKeyID == "" || res.Principal == "" {
				t.Fatalf("empty result without error: %+v", res)
			}
		}
	})
}
