package testcluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// createKey creates a key through n and returns its ID.
func createKey(t *testing.T, n *Node) string {
	t.Helper()
	out, err := n.Client.CreateKey(testnode.Ctx(t), &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("CreateKey through %s: %v", n.ID, err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// encrypt runs one Encrypt through n with a short deadline.
func encrypt(n *Node, keyID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.Client.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	return err
}

// errCode is the AWS error code of err ("" for nil or a non-API error).
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// waitDigests waits until every running node has the same FSM digest.
func waitDigests(t *testing.T, r *Region) string {
	t.Helper()
	var d string
	testnode.Eventually(t, 30*time.Second, "identical FSM digests on every node", func() bool {
		nodes := r.Running()
		d = nodes[0].FSM().Digest()
		for _, n := range nodes[1:] {
			if n.FSM().Digest() != d {
				return false
			}
		}
		return true
	})
	return d
}
