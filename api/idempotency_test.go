package api_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// An SDK retries a call with the same amz-sdk-invocation-id. A write whose
// first attempt's outcome the client never heard must apply once: a retried
// CreateKey returns the same key, a retried RotateKeyOnDemand rotates once.
func TestWritesIdempotentAcrossSDKRetries(t *testing.T) {
	t.Parallel()
	n := start(t)
	inv := map[string]string{"Amz-Sdk-Invocation-Id": "6b3c2b4e-0000-4000-8000-000000000001"}
	body := []byte(`{"Description":"retried"}`)
	first := rawCall(t, n, "CreateKey", body, rawOpts{header: inv})
	second := rawCall(t, n, "CreateKey", body, rawOpts{header: inv})
	if first.Status != 200 || second.Status != 200 {
		t.Fatalf("CreateKey: %s / %s", first, second)
	}
	keyID := func(b []byte) string {
		var out struct{ KeyMetadata struct{ KeyId string } }
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out.KeyMetadata.KeyId
	}
	id := keyID(first.Body)
	if got := keyID(second.Body); got != id {
		t.Fatalf("retried CreateKey made a second key: %s then %s", id, got)
	}
	keys, err := n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
	if err != nil || len(keys.Keys) != 1 {
		t.Fatalf("ListKeys after a retried CreateKey: %d keys, %v", len(keys.Keys), err)
	}

	// A new invocation (a new call) is a new key.
	other := rawCall(t, n, "CreateKey", body, rawOpts{header: map[string]string{"Amz-Sdk-Invocation-Id": "6b3c2b4e-0000-4000-8000-000000000002"}})
	if other.Status != 200 || keyID(other.Body) == id {
		t.Fatalf("a new call reused the key: %s", other)
	}

	rot := []byte(`{"KeyId":"` + id + `"}`)
	rinv := map[string]string{"Amz-Sdk-Invocation-Id": "6b3c2b4e-0000-4000-8000-000000000003"}
	for i := 0; i < 2; i++ {
		if r := rawCall(t, n, "RotateKeyOnDemand", rot, rawOpts{header: rinv}); r.Status != 200 {
			t.Fatalf("RotateKeyOnDemand attempt %d: %s", i+1, r)
		}
	}
	rots, err := n.Client.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: aws.String(id)})
	if err != nil || len(rots.Rotations) != 1 {
		t.Fatalf("a retried RotateKeyOnDemand rotated %d times (%v)", len(rots.Rotations), err)
	}
}
