package sigv4

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func mustVerify(t *testing.T, v *Verifier, r *http.Request, body []byte) Result {
	t.Helper()
	res, err := v.Verify(r, body)
	if err != nil {
		t.Fatalf("Verify: %v (Authorization %q, URL %q)", err, r.Header.Get("Authorization"), r.URL)
	}
	return res
}

func TestRoundTripHeader(t *testing.T) {
	body := []byte(encryptBody)
	cases := []struct {
		name   string
		target string
		body   []byte
		prep   func(*http.Request)
		opts   func(*signOpts)
		want   Result
	}{
		{name: "encrypt", target: "/"},
		{name: "no path", target: ""},
		{name: "empty body", target: "/", body: []byte{}},
		{name: "path with spaces", target: "/key%20store/my%20key"},
		{name: "path with unicode", target: "/ሴ/ключ/%E2%82%AC"},
		{name: "path with reserved chars", target: "/a:b/c@d/e+f/g$h/%2F/~x"},
		{name: "trailing slash", target: "/a/b/"},
		{name: "dot segments (sdk-go-v2 signs verbatim)", target: "/a/./b/../c//d"},
		{
			name: "dot segments and tabs in headers", target: "/a/../b",
			prep: func(r *http.Request) { r.Header.Set("X-Custom", "a\t\tb  c") },
		},
		{name: "query string", target: "/?b=2&a=1&a=0&sp=a%20b&plus=x+y&uni=%E1%88%B4&empty=&flag&slash=a%2Fb&dash=a-b"},
		{name: "query reserved", target: "/path?x=%21%27%28%29%2A&%7E=~&k=v%3Dw%26z"},
		{
			name: "repeated and whitespace-y headers", target: "/",
			prep: func(r *http.Request) {
				r.Header.Set("X-Custom", "  a   b    c  ")
				r.Header.Add("X-Custom", "second\tvalue")
				r.Header.Add("X-Custom", "  third  ")
				r.Header.Set("X-Amz-Meta-Quoted", `"a   b   c"`)
				r.Header.Set("X-Lots", "    ")
			},
		},
		{
			name: "session token", target: "/",
			opts: func(o *signOpts) { o.creds = tempCreds },
			want: Result{AccessKeyID: tempAKID, Principal: tempPrincipal, Region: testRegion},
		},
		{
			name: "host with default port stripped", target: "/",
			prep: func(r *http.Request) { r.URL.Host, r.Host = "kms.example.com:80", "kms.example.com:80" },
		},
		{name: "GET", target: "/?Action=ListKeys", prep: func(r *http.Request) { r.Method = http.MethodGet }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := body
			if tc.body != nil {
				b = tc.body
			}
			o := defaultSignOpts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			want := tc.want
			if want == (Result{}) {
				want = Result{AccessKeyID: testAKID, Principal: testPrincipal, Region: testRegion}
			}
			v := newTestVerifier(signTime.Add(2 * time.Minute))

			// Verify the client-side request object the SDK signed.
			r := kmsRequest(t, tc.target, b)
			if tc.prep != nil {
				tc.prep(r)
			}
			signWith(t, r, b, o)
			if got := mustVerify(t, v, r, b); got != want {
				t.Fatalf("Result = %+v, want %+v", got, want)
			}

			// And the same bytes as a server sees them, over a real connection.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, sr *http.Request) {
				got, err := io.ReadAll(sr.Body)
				if err != nil {
					t.Error(err)
				}
				res, err := v.Verify(sr, got)
				if err != nil {
					http.Error(w, err.Error(), http.StatusForbidden)
					return
				}
				if res != want {
					http.Error(w, fmt.Sprintf("Result = %+v", res), http.StatusForbidden)
				}
			}))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			r = kmsRequest(t, tc.target, b)
			if tc.prep != nil {
				tc.prep(r)
			}
			r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
			if r.Host == testHost {
				r.Host = u.Host
			}
			signWith(t, r, b, o)
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("over HTTP: %s: %s", resp.Status, msg)
			}
		})
	}
}

func TestRoundTripNormalizedPath(t *testing.T) {
	// AWS and botocore remove dot and empty segments before signing; emulate
	// such a client by signing the normalised path through URL.Opaque.
	body := []byte(encryptBody)
	r := kmsRequest(t, "/a/./b/../c//d/", body)
	r.URL.Opaque = "//" + testHost + "/a/c/d/"
	sign(t, r, body)
	r.URL.Opaque = ""
	mustVerify(t, newTestVerifier(signTime), r, body)
}

func TestRoundTripServerShaped(t *testing.T) {
	body := []byte(encryptBody)
	for _, target := range []string{"/", "/a%20b/%E1%88%B4", "/?b=1&a=2"} {
		r := serverRequest(t, target, body)
		sign(t, r, body)
		mustVerify(t, newTestVerifier(signTime), r, body)
	}
}

func TestRoundTripAnyRegion(t *testing.T) {
	body := []byte(encryptBody)
	r := kmsRequest(t, "/", body)
	o := defaultSignOpts()
	o.region = "eu-central-1"
	signWith(t, r, body, o)
	v := newTestVerifier(signTime, func(o *Options) { o.Region = "" })
	if got := mustVerify(t, v, r, body); got.Region != "eu-central-1" {
		t.Fatalf("Region = %q", got.Region)
	}
}

func TestRoundTripPresign(t *testing.T) {
	body := []byte(encryptBody)
	cases := []struct {
		name   string
		target string
		opts   func(*signOpts)
		prep   func(*http.Request)
		now    time.Time
	}{
		{name: "plain", target: "/"},
		{name: "with query and path", target: "/a%20b/ሴ?z=1&a=%20x"},
		{name: "session token", target: "/", opts: func(o *signOpts) { o.creds = tempCreds }},
		{
			name: "expires", target: "/?X-Amz-Expires=900", now: signTime.Add(4 * time.Minute),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultSignOpts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			r := kmsRequest(t, tc.target, body)
			if tc.prep != nil {
				tc.prep(r)
			}
			pr := presign(t, r, body, o)
			if pr.Header.Get("Authorization") != "" || pr.URL.Query().Get("X-Amz-Signature") == "" {
				t.Fatalf("not a presigned request: %v", pr.URL)
			}
			now := tc.now
			if now.IsZero() {
				now = signTime
			}
			v := newTestVerifier(now)
			res := mustVerify(t, v, pr, body)
			if res.AccessKeyID != o.creds.AccessKeyID {
				t.Fatalf("Result = %+v", res)
			}
			if _, err := v.Verify(pr, []byte("other body")); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("changed body: err = %v", err)
			}
		})
	}
}

// authParam rewrites one parameter of the Authorization header; an empty
// value removes it.
func authParam(r *http.Request, name, value string) {
	h := r.Header.Get("Authorization")
	alg, rest, _ := strings.Cut(h, " ")
	var parts []string
	for _, p := range strings.Split(rest, ", ") {
		if strings.HasPrefix(p, name+"=") {
			if value == "" {
				continue
			}
			p = name + "=" + value
		}
		parts = append(parts, p)
	}
	r.Header.Set("Authorization", alg+" "+strings.Join(parts, ", "))
}

func TestBadRequests(t *testing.T) {
	body := []byte(encryptBody)
	cases := []struct {
		name    string
		opts    func(*signOpts)     // how to sign
		mutate  func(*http.Request) // after signing
		vopts   func(*Options)      // verifier options
		now     time.Time           // server clock; default signTime
		body    []byte              // body verified; default the signed one
		presign bool                // presign instead of header signing
		want    error               // sentinel
		msg     string              // expected Message prefix, if set
	}{
		{name: "no auth", mutate: func(r *http.Request) { r.Header.Del("Authorization") }, want: ErrMissingAuth, msg: "Missing Authentication Token"},
		{name: "garbage authorization", mutate: func(r *http.Request) { r.Header.Set("Authorization", "garbage") }, want: ErrIncompleteSignature,
			msg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=garbage"},
		{name: "empty authorization", mutate: func(r *http.Request) { r.Header.Set("Authorization", "") }, want: ErrIncompleteSignature},
		{name: "missing Credential", mutate: func(r *http.Request) { authParam(r, "Credential", "") }, want: ErrIncompleteSignature,
			msg: "Authorization header requires 'Credential' parameter. Authorization="},
		{name: "missing SignedHeaders", mutate: func(r *http.Request) { authParam(r, "SignedHeaders", "") }, want: ErrIncompleteSignature,
			msg: "Authorization header requires 'SignedHeaders' parameter."},
		{name: "missing Signature", mutate: func(r *http.Request) { authParam(r, "Signature", "") }, want: ErrIncompleteSignature,
			msg: "Authorization header requires 'Signature' parameter."},
		{name: "wrong algorithm", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1))
		}, want: ErrIncompleteSignature, msg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"},
		{name: "sigv4a", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
		}, want: ErrIncompleteSignature},
		{name: "credential with 4 elements", mutate: func(r *http.Request) { authParam(r, "Credential", testAKID+"/20261123/us-east-1/kms") },
			want: ErrIncompleteSignature, msg: "Credential must have exactly 5 slash-delimited elements"},
		{name: "credential with empty element", mutate: func(r *http.Request) { authParam(r, "Credential", testAKID+"//us-east-1/kms/aws4_request") },
			want: ErrIncompleteSignature},
		{name: "unknown access key", opts: func(o *signOpts) { o.creds.AccessKeyID = "AKIDUNKNOWN" }, want: ErrUnrecognizedClient,
			msg: "The security token included in the request is invalid."},
		{name: "wrong secret", opts: func(o *signOpts) { o.creds.SecretAccessKey = "not-the-secret" }, want: ErrInvalidSignature,
			msg: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{name: "body changed after signing", body: []byte(`{"KeyId":"alias/other","Plaintext":"aGVsbG8gd29ybGQ="}`), want: ErrInvalidSignature},
		{name: "header changed after signing", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.Decrypt") }, want: ErrInvalidSignature},
		{name: "signed header removed", mutate: func(r *http.Request) { r.Header.Del("Content-Type") }, want: ErrInvalidSignature},
		{name: "path changed", mutate: func(r *http.Request) { r.URL.Path = "/x" }, want: ErrInvalidSignature},
		{name: "query added", mutate: func(r *http.Request) { r.URL.RawQuery = "a=1" }, want: ErrInvalidSignature},
		{name: "method changed", mutate: func(r *http.Request) { r.Method = http.MethodPut }, want: ErrInvalidSignature},
		{name: "signature tampered", mutate: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			last := h[len(h)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			r.Header.Set("Authorization", h[:len(h)-1]+string(repl))
		}, want: ErrInvalidSignature},
		{name: "signature uppercase", mutate: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.Index(h, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", h[:i]+strings.ToUpper(h[i:])+"")
			if h[i:] == strings.ToUpper(h[i:]) { // all digits: make it wrong anyway
				r.Header.Set("Authorization", h[:i]+"F"+h[i+1:])
			}
		}, want: ErrInvalidSignature},
		{name: "signature short", mutate: func(r *http.Request) { authParam(r, "Signature", "abcd") }, want: ErrInvalidSignature},
		{name: "expired", now: signTime.Add(6 * time.Minute), want: ErrInvalidSignature,
			msg: "Signature expired: 20261123T101500Z is now earlier than 20261123T101600Z (20261123T102100Z - 5 min.)"},
		{name: "in the future", now: signTime.Add(-6 * time.Minute), want: ErrInvalidSignature,
			msg: "Signature not yet current: 20261123T101500Z is still later than 20261123T101400Z (20261123T100900Z + 5 min.)"},
		{name: "custom skew", now: signTime.Add(2 * time.Minute), vopts: func(o *Options) { o.MaxSkew = time.Minute }, want: ErrInvalidSignature,
			msg: "Signature expired: 20261123T101500Z is now earlier than 20261123T101600Z (20261123T101700Z - 1 min.)"},
		{name: "wrong region", opts: func(o *signOpts) { o.region = "eu-west-1" }, want: ErrInvalidSignature,
			msg: "Credential should be scoped to a valid region. "},
		{name: "wrong service", opts: func(o *signOpts) { o.service = "s3" }, want: ErrInvalidSignature,
			msg: "Credential should be scoped to correct service: 'kms'. "},
		{name: "wrong terminator", mutate: func(r *http.Request) {
			authParam(r, "Credential", testAKID+"/20261123/us-east-1/kms/aws4_requesx")
		}, want: ErrInvalidSignature, msg: "Credential should be scoped with a valid terminator"},
		{name: "scope date differs from X-Amz-Date", mutate: func(r *http.Request) {
			authParam(r, "Credential", testAKID+"/20261122/us-east-1/kms/aws4_request")
		}, want: ErrInvalidSignature,
			msg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261122' != '20261123', from '20261123T101500Z'."},
		{name: "X-Amz-Date differs from scope date", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261124T101500Z") },
			now: signTime.Add(24 * time.Hour), want: ErrInvalidSignature, msg: "Date in Credential scope does not match"},
		{name: "X-Amz-Date changed within skew", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261123T101600Z") }, want: ErrInvalidSignature},
		{name: "missing X-Amz-Date", mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") }, want: ErrIncompleteSignature,
			msg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 "},
		{name: "malformed X-Amz-Date", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-11-23T10:15:00Z") }, want: ErrIncompleteSignature,
			msg: "Date must be in ISO-8601 'basic format'"},
		{name: "impossible X-Amz-Date", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261131T101500Z") }, want: ErrIncompleteSignature},
		{name: "Date header instead of X-Amz-Date (still signed over x-amz-date)", mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", signTime.Format(http.TimeFormat))
		}, want: ErrInvalidSignature},
		{name: "host not signed", mutate: func(r *http.Request) {
			authParam(r, "SignedHeaders", strings.Replace(signedHeadersOf(r), "host;", "", 1))
		}, want: ErrIncompleteSignature, msg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "host changed", mutate: func(r *http.Request) { r.Host = "127.0.0.1:9090" }, want: ErrInvalidSignature},
		{name: "session token mismatch", opts: func(o *signOpts) { o.creds = tempCreds; o.creds.SessionToken = "other-token" }, want: ErrUnrecognizedClient,
			msg: "The security token included in the request is invalid."},
		{name: "session token missing", opts: func(o *signOpts) { o.creds = tempCreds; o.creds.SessionToken = "" }, want: ErrUnrecognizedClient},
		{name: "session token header removed", opts: func(o *signOpts) { o.creds = tempCreds },
			mutate: func(r *http.Request) { r.Header.Del("X-Amz-Security-Token") }, want: ErrUnrecognizedClient},
		{name: "session token on long-term key", opts: func(o *signOpts) { o.creds.SessionToken = "unexpected" }, want: ErrUnrecognizedClient},
		{name: "header and presign both", mutate: func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=abc" }, want: ErrIncompleteSignature,
			msg: "Only one auth mechanism allowed"},
		{name: "presign expired", presign: true, mutate: func(r *http.Request) {}, now: signTime.Add(2 * time.Minute),
			opts: func(o *signOpts) {}, want: ErrInvalidSignature, msg: "Signature expired: 20261123T101500Z is now earlier than 20261123T101600Z (20261123T101700Z - 1 min.)"},
		{name: "presign too old without X-Amz-Expires", presign: true, now: signTime.Add(6 * time.Minute), want: ErrInvalidSignature},
		{name: "presign in the future", presign: true, now: signTime.Add(-6 * time.Minute), want: ErrInvalidSignature},
		{name: "presign missing signature", presign: true, mutate: func(r *http.Request) { delQuery(r, "X-Amz-Signature") },
			want: ErrIncompleteSignature, msg: "AWS query-string parameters must include 'X-Amz-Signature'. Re-examine the query-string parameters."},
		{name: "presign missing credential", presign: true, mutate: func(r *http.Request) { delQuery(r, "X-Amz-Credential") }, want: ErrIncompleteSignature},
		{name: "presign missing date", presign: true, mutate: func(r *http.Request) { delQuery(r, "X-Amz-Date") }, want: ErrIncompleteSignature},
		{name: "presign wrong algorithm", presign: true, mutate: func(r *http.Request) { setQuery(r, "X-Amz-Algorithm", "AWS4-HMAC-SHA1") }, want: ErrIncompleteSignature},
		{name: "presign bad expires", presign: true, mutate: func(r *http.Request) { setQuery(r, "X-Amz-Expires", "soon") }, want: ErrIncompleteSignature},
		{name: "presign expires over a week", presign: true, mutate: func(r *http.Request) { setQuery(r, "X-Amz-Expires", "604801") }, want: ErrIncompleteSignature},
		{name: "presign expires extended", presign: true, mutate: func(r *http.Request) { setQuery(r, "X-Amz-Expires", "3600") }, want: ErrInvalidSignature},
		{name: "presign host not signed", presign: true, mutate: func(r *http.Request) { setQuery(r, "X-Amz-SignedHeaders", "content-type") }, want: ErrIncompleteSignature},
		{name: "presign body changed", presign: true, body: []byte("{}"), want: ErrInvalidSignature},
		{name: "presign signed as unsigned payload", presign: true,
			opts: func(o *signOpts) { o.hash = "UNSIGNED-PAYLOAD" }, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") },
			want: ErrInvalidSignature, msg: "UNSIGNED-PAYLOAD is not accepted"},
		{name: "presign long expiry capped at the skew", presign: true, now: signTime.Add(6 * time.Minute),
			mutate: func(r *http.Request) {}, opts: func(o *signOpts) {}, want: ErrInvalidSignature, msg: "Signature expired"},
		{name: "x-amz-target not signed", mutate: func(r *http.Request) {
			authParam(r, "SignedHeaders", strings.Replace(signedHeadersOf(r), ";x-amz-target", "", 1))
		}, want: ErrIncompleteSignature, msg: "'X-Amz-Target' must be a signed header."},
		{name: "presign unsigned payload claimed after signing", presign: true,
			mutate: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }, body: []byte("{}"), want: ErrInvalidSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := defaultSignOpts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			r := kmsRequest(t, "/", body)
			if tc.presign {
				if strings.HasPrefix(tc.name, "presign expired") {
					r.URL.RawQuery = "X-Amz-Expires=60"
				}
				if strings.HasPrefix(tc.name, "presign long expiry") {
					r.URL.RawQuery = "X-Amz-Expires=3600"
				}
				r = presign(t, r, body, o)
			} else {
				signWith(t, r, body, o)
			}
			if tc.mutate != nil {
				tc.mutate(r)
			}
			now := tc.now
			if now.IsZero() {
				now = signTime
			}
			var mods []func(*Options)
			if tc.vopts != nil {
				mods = append(mods, tc.vopts)
			}
			v := newTestVerifier(now, mods...)
			b := body
			if tc.body != nil {
				b = tc.body
			}
			res, err := v.Verify(r, b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v (result %+v)", err, tc.want, res)
			}
			if res != (Result{}) {
				t.Fatalf("non-zero Result %+v with error", res)
			}
			m := Message(err)
			if m == "" {
				t.Fatalf("Message(%v) is empty", err)
			}
			if tc.msg != "" && !strings.HasPrefix(m, tc.msg) {
				t.Fatalf("Message = %q\nwant prefix %q", m, tc.msg)
			}
			if err.Error() != tc.want.Error()+": "+m {
				t.Fatalf("Error() = %q, want sentinel prefix + Message", err.Error())
			}
			for _, s := range []string{testSecret, tempSecret, tempToken} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error reveals a secret: %v", err)
				}
			}
			if v.cache.len() != 0 {
				t.Fatalf("failed verification cached %d keys", v.cache.len())
			}
		})
	}
}

func signedHeadersOf(r *http.Request) string {
	h := r.Header.Get("Authorization")
	i := strings.Index(h, "SignedHeaders=") + len("SignedHeaders=")
	j := strings.Index(h[i:], ",")
	return h[i : i+j]
}

func delQuery(r *http.Request, k string) {
	q := r.URL.Query()
	q.Del(k)
	r.URL.RawQuery = q.Encode()
}

func setQuery(r *http.Request, k, v string) {
	q := r.URL.Query()
	q.Set(k, v)
	r.URL.RawQuery = q.Encode()
}

func TestMessage(t *testing.T) {
	if Message(nil) != "" || Message(errors.New("other")) != "" || Message(io.EOF) != "" {
		t.Fatal("Message of a foreign error is not empty")
	}
	for _, s := range []error{ErrMissingAuth, ErrIncompleteSignature, ErrInvalidSignature, ErrUnrecognizedClient} {
		if Message(s) == "" || Message(fmt.Errorf("wrapped: %w", s)) == "" {
			t.Fatalf("Message(%v) is empty", s)
		}
	}
	err := fmt.Errorf("api: %w", errMismatch)
	if Message(err) != msgMismatch || !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("wrapped error lost: %q", Message(err))
	}
}

func TestRedaction(t *testing.T) {
	v := newTestVerifier(signTime)
	body := []byte(encryptBody)
	r := kmsRequest(t, "/", body)
	sign(t, r, body)
	mustVerify(t, v, r, body)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", testStore, testStore, testStore, testStore[tempAKID], v, *v, v.cache)
	for _, s := range []string{testSecret, tempSecret, tempToken} {
		if strings.Contains(out, s) {
			t.Fatalf("formatted output reveals %q: %s", s, out)
		}
	}
	// The derived key itself must not print either.
	s := getScratch()
	k := s.deriveKey(testSecret, "20261123", testRegion, testService)
	putScratch(s)
	if hx := fmt.Sprintf("%x", k[:]); strings.Contains(out, hx) {
		t.Fatal("formatted output reveals a signing key")
	}
}

func TestKeyCache(t *testing.T) {
	body := []byte(encryptBody)
	v := newTestVerifier(signTime, func(o *Options) { o.KeyCacheSize = 2; o.Region = "" })
	for i, region := range []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-east-1"} {
		r := kmsRequest(t, "/", body)
		o := defaultSignOpts()
		o.region = region
		signWith(t, r, body, o)
		mustVerify(t, v, r, body)
		mustVerify(t, v, r, body) // warm
		if n := v.cache.len(); n < 1 || n > 2 {
			t.Fatalf("after %d: cache holds %d keys", i, n)
		}
	}
	// The secret is part of the key: a rotated secret is not served a stale
	// signing key.
	rotated := StaticStore{testAKID: {AccessKeyID: testAKID, Secret: "rotated-secret", Principal: testPrincipal}}
	v2 := NewVerifier(rotated, Options{Service: testService, Now: func() time.Time { return signTime }})
	r := kmsRequest(t, "/", body)
	sign(t, r, body)
	if _, err := v2.Verify(r, body); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("rotated secret: err = %v", err)
	}
	// Disabled cache still verifies.
	v3 := newTestVerifier(signTime, func(o *Options) { o.KeyCacheSize = -1 })
	mustVerify(t, v3, r, body)
}

func TestDefaults(t *testing.T) {
	v := NewVerifier(testStore, Options{Service: testService})
	body := []byte(encryptBody)
	r := kmsRequest(t, "/", body)
	o := defaultSignOpts()
	o.at = time.Now()
	signWith(t, r, body, o)
	mustVerify(t, v, r, body)
	for _, bad := range []func(){
		func() { NewVerifier(nil, Options{Service: "kms"}) },
		func() { NewVerifier(testStore, Options{}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			bad()
		}()
	}
	if _, err := v.Verify(nil, nil); !errors.Is(err, ErrMissingAuth) {
		t.Fatal(err)
	}
}

func TestConcurrentVerify(t *testing.T) {
	body := []byte(encryptBody)
	v := newTestVerifier(signTime, func(o *Options) { o.Region = "" })
	var reqs []*http.Request
	for i := range 8 {
		r := kmsRequest(t, "/?n="+strconv.Itoa(i), body)
		o := defaultSignOpts()
		if i%2 == 1 {
			o.creds = tempCreds
		}
		o.region = "r" + strconv.Itoa(i%3)
		signWith(t, r, body, o)
		reqs = append(reqs, r)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r := reqs[(g+i)%len(reqs)]
				b := body
				if i%5 == 0 {
					b = []byte("tampered")
				}
				_, err := v.Verify(r, b)
				if (err == nil) != (i%5 != 0) {
					t.Errorf("goroutine %d iteration %d: err = %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCanonicalPieces(t *testing.T) {
	s := getScratch()
	defer putScratch(s)
	uri := []struct{ in, norm, raw string }{
		{"", "/", "/"},
		{"/", "/", "/"},
		{"/example space/", "/example%20space/", "/example%20space/"},
		{"/example%20space/", "/example%2520space/", "/example%2520space/"},
		{"/ሴ", "/%E1%88%B4", "/%E1%88%B4"},
		{"/example/..", "/", "/example/.."},
		{"/example1/example2/../..", "/", "/example1/example2/../.."},
		{"/./", "/", "/./"},
		{"/./example", "/example", "/./example"},
		{"//example//", "/example/", "//example//"},
		{"/a/b/../c/", "/a/c/", "/a/b/../c/"},
		{"/-._~0aZ", "/-._~0aZ", "/-._~0aZ"},
	}
	for _, c := range uri {
		if got := string(s.appendCanonicalURI(nil, c.in, true)); got != c.norm {
			t.Errorf("canonical URI %q (normalised) = %q, want %q", c.in, got, c.norm)
		}
		if got := string(s.appendCanonicalURI(nil, c.in, false)); got != c.raw {
			t.Errorf("canonical URI %q (verbatim) = %q, want %q", c.in, got, c.raw)
		}
	}
	query := []struct{ in, want string }{
		{"", ""},
		{"Param2=value2&Param1=value1", "Param1=value1&Param2=value2"},
		{"Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2"},
		{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
			"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"},
		{"%E1%88%B4=bar", "%E1%88%B4=bar"},
		{"a=b+c&d=e%20f&g=h%2bi", "a=b%20c&d=e%20f&g=h%2Bi"},
		{"v=a%2Fb&v=a-b", "v=a%2Fb&v=a-b"}, // sorted after encoding
		{"flag&&x=", "flag=&x="},
		{"bad=%zz&ok=1", "bad=%zz&ok=1"},
	}
	for _, c := range query {
		if got := string(s.appendCanonicalQuery(nil, c.in, false)); got != c.want {
			t.Errorf("canonical query %q = %q, want %q", c.in, got, c.want)
		}
	}
	if got := string(s.appendCanonicalQuery(nil, "X-Amz-Signature=abc&b=1&X-Amz-Date=x", true)); got != "X-Amz-Date=x&b=1" {
		t.Errorf("presign canonical query = %q", got)
	}
	vals := []struct {
		in, all, spaces string
		odd             bool
	}{
		{"value1", "value1", "value1", false},
		{"  a   b  c ", "a b c", "a b c", false},
		{"\t x \t", "x", "x", false},
		{`"a   b   c"`, `"a b c"`, `"a b c"`, false},
		{"a\tb", "a b", "a\tb", true},
		{"a  \t\t  b \r\n c", "a b c", "a \t\t b \r\n c", true},
		{"   ", "", "", false},
		{"", "", "", false},
	}
	for _, c := range vals {
		got, odd := appendHeaderValue(nil, c.in, true)
		got2, odd2 := appendHeaderValue(nil, c.in, false)
		if string(got) != c.all || string(got2) != c.spaces || odd != c.odd || odd2 != c.odd {
			t.Errorf("header value %q = %q / %q (odd %v %v), want %q / %q (odd %v)", c.in, got, got2, odd, odd2, c.all, c.spaces, c.odd)
		}
	}
	for _, c := range []struct {
		in string
		ok bool
	}{{"20261123T101500Z", true}, {"20240229T000000Z", true}, {"20250229T000000Z", false}, {"20261123T241500Z", false},
		{"20261123T101500", false}, {"2026112xT101500Z", false}, {"20261323T101500Z", false}, {"20261100T101500Z", false}} {
		if _, ok := parseAmzDate(c.in); ok != c.ok {
			t.Errorf("parseAmzDate(%q) ok = %v", c.in, ok)
		}
	}
}

func TestVerifyDoesNotReadBody(t *testing.T) {
	body := []byte(encryptBody)
	r := kmsRequest(t, "/", body)
	sign(t, r, body)
	r.Body = io.NopCloser(panicReader{})
	mustVerify(t, newTestVerifier(signTime), r, body)
}

type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("Verify read r.Body") }

// TestSDKHeaderHoistingPresign covers presigned requests whose X-Amz-*
// headers were not hoisted into the query.
func TestSDKHeaderHoistingPresign(t *testing.T) {
	body := []byte(encryptBody)
	r := kmsRequest(t, "/", body)
	u, hdr, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableHeaderHoisting = true }).PresignHTTP(
		t.Context(), tempCreds, r, payloadHash(body), testService, testRegion, signTime)
	if err != nil {
		t.Fatal(err)
	}
	pr, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	for k, v := range hdr {
		if k != "Host" {
			pr.Header[k] = v
		}
	}
	mustVerify(t, newTestVerifier(signTime), pr, body)
}

func TestLongSecret(t *testing.T) {
	// "AWS4"+secret longer than the SHA-256 block size is hashed first, as
	// HMAC requires.
	secret := strings.Repeat("s3cr3t/", 20)
	store := StaticStore{"AKIDLONG": {AccessKeyID: "AKIDLONG", Secret: secret, Principal: "p"}}
	v := NewVerifier(store, Options{Service: testService, Now: func() time.Time { return signTime }})
	body := []byte(encryptBody)
	r := kmsRequest(t, "/", body)
	o := defaultSignOpts()
	o.creds.AccessKeyID, o.creds.SecretAccessKey = "AKIDLONG", secret
	signWith(t, r, body, o)
	mustVerify(t, v, r, body)
	mustVerify(t, v, r, body)
}
