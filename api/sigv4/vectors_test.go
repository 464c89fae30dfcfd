package sigv4

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Vectors from the AWS SigV4 test suite (aws-sig-v4-test-suite, 2015-08-30
// edition: credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
// region us-east-1, service "service", host example.amazonaws.com). They pin
// the behaviour aws-sdk-go-v2 does not exercise: path normalisation (dot and
// empty segments removed before encoding), raw unencoded request paths, and
// signatures computed by AWS itself rather than by the SDK under test.
func TestAWSSigV4TestSuite(t *testing.T) {
	store := StaticStore{"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", Secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Principal: "p"}}
	v := NewVerifier(store, Options{Service: "service", Region: "us-east-1",
		Now: func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) }})
	const vanilla = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	type header struct{ k, v string }
	for _, c := range []struct {
		name, method, uri, signed, sig, body string
		hdr                                  []header
	}{
		{name: "get-vanilla", uri: "/", sig: vanilla},
		{name: "get-vanilla-empty-query-key", uri: "/?Param1=value1", sig: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
		{name: "get-vanilla-query-order-key-case", uri: "/?Param2=value2&Param1=value1", sig: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{name: "get-vanilla-utf8-query", uri: "/?ሴ=bar", sig: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
		{name: "get-space", uri: "/example space/", sig: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
		{name: "get-slash", uri: "//", sig: vanilla},
		{name: "get-slashes", uri: "//example//", sig: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
		{name: "get-relative", uri: "/example/..", sig: vanilla},
		{name: "get-relative-relative", uri: "/example1/example2/../..", sig: vanilla},
		{name: "get-slash-dot-slash", uri: "/./", sig: vanilla},
		{name: "get-slash-pointless-dot", uri: "/./example", sig: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
		{name: "get-utf8", uri: "/ሴ", sig: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
		{name: "get-unreserved", uri: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
			sig: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
		{name: "post-vanilla", method: "POST", uri: "/", sig: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{name: "post-vanilla-query", method: "POST", uri: "/?Param1=value1", sig: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
		{name: "get-header-value-trim", uri: "/", signed: "host;my-header1;my-header2;x-amz-date",
			sig: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
			hdr: []header{{"My-Header1", " value1"}, {"My-Header2", ` "a   b   c"`}}},
		{name: "get-header-key-duplicate", uri: "/", signed: "host;my-header1;x-amz-date",
			sig: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
			hdr: []header{{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}},
		{name: "post-x-www-form-urlencoded", method: "POST", uri: "/", signed: "content-type;host;x-amz-date", body: "Param1=value1",
			sig: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
			hdr: []header{{"Content-Type", "application/x-www-form-urlencoded"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.method == "" {
				c.method = http.MethodGet
			}
			if c.signed == "" {
				c.signed = "host;x-amz-date"
			}
			r, err := http.NewRequest(c.method, "http://example.amazonaws.com/", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			r.RequestURI = c.uri // raw, as the suite's request line has it
			for _, h := range c.hdr {
				r.Header.Add(h.k, h.v)
			}
			r.Header.Set("X-Amz-Date", "20150830T123600Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="+
				c.signed+", Signature="+c.sig)
			if _, err := v.Verify(r, []byte(c.body)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDateHeader checks the HTTP Date header in place of X-Amz-Date, with
// the get-vanilla vector of the 2011-09-09 edition of the AWS test suite
// (service "host", host host.foo.com).
func TestDateHeader(t *testing.T) {
	store := StaticStore{"AKIDEXAMPLE": {AccessKeyID: "AKIDEXAMPLE", Secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Principal: "p"}}
	v := NewVerifier(store, Options{Service: "host", Region: "us-east-1",
		Now: func() time.Time { return time.Date(2011, 9, 9, 23, 36, 0, 0, time.UTC) }})
	r, _ := http.NewRequest(http.MethodGet, "http://host.foo.com/", nil)
	r.Header.Set("Date", "Mon, 09 Sep 2011 23:36:00 GMT")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, "+
		"SignedHeaders=date;host, Signature=b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470")
	if _, err := v.Verify(r, nil); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Date", "not a date")
	if _, err := v.Verify(r, nil); Message(err) == "" || !errors.Is(err, ErrIncompleteSignature) {
		t.Fatalf("bad Date: %v", err)
	}
}
