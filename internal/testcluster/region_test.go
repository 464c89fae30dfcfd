package testcluster

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// A key created through one node is used at once through the others.
func TestRegion_AnyNodeServes(t *testing.T) {
	r := Start(t, 3)
	n1, n2, n3 := r.Nodes[0], r.Nodes[1], r.Nodes[2]
	ctx := testnode.Ctx(t)
	ck, err := n1.Client.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("through n1")})
	if err != nil {
		t.Fatal(err)
	}
	id := ck.KeyMetadata.KeyId
	enc, err := n2.Client.Encrypt(ctx, &awskms.EncryptInput{KeyId: id, Plaintext: []byte("hello")})
	if err != nil {
		t.Fatalf("Encrypt on n2: %v", err)
	}
	dec, err := n3.Client.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil {
		t.Fatalf("Decrypt on n3: %v", err)
	}
	if !bytes.Equal(dec.Plaintext, []byte("hello")) {
		t.Fatalf("plaintext = %q", dec.Plaintext)
	}
	// A write through a follower is forwarded and readable there at once.
	f := r.Followers()[0]
	if _, err := f.Client.DisableKey(ctx, &awskms.DisableKeyInput{KeyId: id}); err != nil {
		t.Fatalf("DisableKey on follower: %v", err)
	}
	dk, err := f.Client.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if dk.KeyMetadata.Enabled {
		t.Fatal("follower still sees the key enabled after its own DisableKey")
	}
}
