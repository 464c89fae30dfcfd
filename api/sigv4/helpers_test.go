package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testAKID      = "AKIAIOSFODNN7EXAMPLE"
	testSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testPrincipal = "arn:aws:iam::111122223333:user/dev"
	tempAKID      = "ASIAIOSFODNN7EXAMPLE"
	tempSecret    = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
	tempToken     = "IQoJb3JpZ2luX2VjEXAMPLETOKEN//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=="
	tempPrincipal = "arn:aws:sts::111122223333:assumed-role/app/session"
	testRegion    = "us-east-1"
	testService   = "kms"
	testHost      = "127.0.0.1:8080"
	encryptBody   = `{"KeyId":"alias/app","Plaintext":"aGVsbG8gd29ybGQ=","EncryptionContext":{"app":"billing"}}`
)

// signTime is when test requests are signed; amzSignTime is its X-Amz-Date.
var signTime = time.Date(2026, 11, 23, 10, 15, 0, 0, time.UTC)

const amzSignTime = "20261123T101500Z"

var testStore = StaticStore{
	testAKID: {AccessKeyID: testAKID, Secret: testSecret, Principal: testPrincipal},
	tempAKID: {AccessKeyID: tempAKID, Secret: tempSecret, SessionToken: tempToken, Principal: tempPrincipal},
}

var longTermCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
var tempCreds = aws.Credentials{AccessKeyID: tempAKID, SecretAccessKey: tempSecret, SessionToken: tempToken}

func newTestVerifier(now time.Time, mod ...func(*Options)) *Verifier {
	opts := Options{Service: testService, Region: testRegion, Now: func() time.Time { return now }}
	for _, m := range mod {
		m(&opts)
	}
	return NewVerifier(testStore, opts)
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// kmsRequest builds a KMS-shaped client request to http://127.0.0.1:8080+target.
func kmsRequest(t testing.TB, target string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "http://"+testHost+target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7 os/linux lang/go#1.26")
	return r
}

// serverRequest builds a request as net/http's server presents it (raw
// RequestURI, Content-Length in the header map).
func serverRequest(t testing.TB, target string, body []byte) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Host = testHost
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r
}

type signOpts struct {
	creds   aws.Credentials
	region  string
	service string
	at      time.Time
	hash    string
	fn      func(*v4.SignerOptions)
}

func defaultSignOpts() signOpts {
	return signOpts{creds: longTermCreds, region: testRegion, service: testService, at: signTime}
}

// signWith signs r with the real AWS SigV4 signer (a fresh one each time:
// the SDK's key cache ignores the secret).
func signWith(t testing.TB, r *http.Request, body []byte, o signOpts) {
	t.Helper()
	if o.hash == "" {
		o.hash = payloadHash(body)
	}
	var fns []func(*v4.SignerOptions)
	if o.fn != nil {
		fns = append(fns, o.fn)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), o.creds, r, o.hash, o.service, o.region, o.at, fns...); err != nil {
		t.Fatal(err)
	}
}

func sign(t testing.TB, r *http.Request, body []byte) {
	t.Helper()
	signWith(t, r, body, defaultSignOpts())
}

// presign presigns r with the real signer and returns a request for the
// presigned URL carrying the headers the signer says must be sent.
func presign(t testing.TB, r *http.Request, body []byte, o signOpts) *http.Request {
	t.Helper()
	if o.hash == "" {
		o.hash = payloadHash(body)
	}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), o.creds, r, o.hash, o.service, o.region, o.at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(r.Method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if k == "Host" {
			out.Host = vs[0]
			continue
		}
		out.Header[k] = vs
	}
	return out
}
