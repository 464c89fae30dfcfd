package testcluster

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// withInvocationID makes the SDK send a fixed amz-sdk-invocation-id, as it
// does on every retry of one call.
func withInvocationID(id string) func(*awskms.Options) {
	return func(o *awskms.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("fixedInvocationID",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					if req, ok := in.Request.(*smithyhttp.Request); ok {
						req.Header.Set("Amz-Sdk-Invocation-Id", id)
					}
					return next.HandleFinalize(ctx, in)
				}), middleware.Before)
		})
	}
}

// A write retried after an unknown outcome — through the same follower,
// whose forward carries the same request ID, or through another node —
// applies once: the retry gets the first attempt's key.
func TestRegion_RetriedWriteAppliesOnce(t *testing.T) {
	r := Start(t, 3)
	leader := r.Leader()
	f := r.Followers()[0]
	opt := withInvocationID("0f5d6a52-1111-4222-8333-444455556666")
	in := &awskms.CreateKeyInput{Description: aws.String("once")}
	first, err := f.Client.CreateKey(testnode.Ctx(t), in, opt)
	if err != nil {
		t.Fatal(err)
	}
	before := leader.FSM().KeyCount()
	for _, n := range []*Node{f, leader, r.Followers()[1]} {
		again, err := n.Client.CreateKey(testnode.Ctx(t), in, opt)
		if err != nil {
			t.Fatalf("retry through %s: %v", n.ID, err)
		}
		if aws.ToString(again.KeyMetadata.KeyId) != aws.ToString(first.KeyMetadata.KeyId) {
			t.Fatalf("retry through %s made key %s, first attempt %s", n.ID, aws.ToString(again.KeyMetadata.KeyId), aws.ToString(first.KeyMetadata.KeyId))
		}
	}
	if after := leader.FSM().KeyCount(); after != before {
		t.Fatalf("retries changed the key count from %d to %d", before, after)
	}
}
