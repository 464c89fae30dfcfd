package api_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const (
	otherAKID   = "AKIAKMSNODEOTHERUSER"
	otherSecret = "another/secret/access/key/for/rate/limit/tests"
	thirdAKID   = "AKIAKMSNODETHIRDUSER"
	thirdSecret = "a/third/secret/access/key/for/rate/limit/tests"
)

// A node with --rate-limit answers ThrottlingException (HTTP 400, "Rate
// exceeded") once an identity spends its burst, as the AWS SDK expects;
// other identities keep working, and requests that fail authentication are
// charged to their address, not to the identity they name.
func TestRateLimitOverHTTP(t *testing.T) {
	t.Parallel()
	// A bucket of 3 that refills once in 1000 s: nothing refills during
	// the test, however slow the machine.
	n := start(t, func(c *node.Config) {
		c.RateLimit, c.RateBurst = 0.001, 3
		c.Credentials = append(c.Credentials,
			sigv4.Credential{AccessKeyID: otherAKID, Secret: otherSecret, Principal: "arn:aws:iam::" + testAccount + ":user/other"},
			sigv4.Credential{AccessKeyID: thirdAKID, Secret: thirdSecret, Principal: "arn:aws:iam::" + testAccount + ":user/third"})
	})
	for range 3 {
		_, err := n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
		mustOK(t, "ListKeys within the burst", err)
	}
	_, err := n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
	if msg := wantErr(t, err, "ThrottlingException"); msg != "Rate exceeded" {
		t.Errorf("message %q, want %q", msg, "Rate exceeded")
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Errorf("throttling answer: %v, want HTTP 400", err)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Error("the SDK does not classify the answer as throttling (it would not back off)")
	}
	// Throttled before any work: a write is refused too, and creates nothing.
	_, err = n.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	wantErr(t, err, "ThrottlingException")

	// The raw answer has the AWS error shape.
	r := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{})
	wantRawErr(t, r, 400, "ThrottlingException")

	// Another identity has its own bucket.
	other := testnode.NewClient(n.URL(), testRegion, otherAKID, otherSecret)
	_, err = other.ListKeys(ctx(t), &awskms.ListKeysInput{})
	mustOK(t, "ListKeys by another identity", err)

	// Bad signatures naming the other identity spend this address's
	// bucket (3), not the identity's: then they are throttled, while the
	// identity itself keeps its two remaining requests.
	for range 3 {
		r := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{akid: otherAKID, secret: "wrong"})
		wantRawErr(t, r, 400, "InvalidSignatureException")
	}
	r = rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{akid: otherAKID, secret: "wrong"})
	wantRawErr(t, r, 400, "ThrottlingException")
	// Unsigned requests from the address are refused before any work.
	r = rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{noSign: true})
	wantRawErr(t, r, 400, "ThrottlingException")
	for range 2 {
		_, err = other.ListKeys(ctx(t), &awskms.ListKeysInput{})
		mustOK(t, "ListKeys by the other identity after the forged requests", err)
	}
	_, err = other.ListKeys(ctx(t), &awskms.ListKeysInput{})
	wantErr(t, err, "ThrottlingException")

	// Health checks are never limited.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	// The throttled CreateKey created nothing.
	third := testnode.NewClient(n.URL(), testRegion, thirdAKID, thirdSecret)
	out, err := third.ListKeys(ctx(t), &awskms.ListKeysInput{})
	mustOK(t, "ListKeys by a third identity", err)
	if len(out.Keys) != 0 {
		t.Errorf("a throttled CreateKey created %d keys", len(out.Keys))
	}
}
