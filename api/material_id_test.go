package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// Decrypt, GenerateDataKey* and ReEncrypt name the key material version they
// used (KeyMaterialId), which matches DescribeKey's CurrentKeyMaterialId and
// follows rotation.
func TestKeyMaterialIdInResponses(t *testing.T) {
	t.Parallel()
	n := start(t)
	c, ctx := n.Client, testnode.Ctx(t)
	id := newKeyID(t, n)
	v1 := aws.ToString(describe(t, n, id).CurrentKeyMaterialId)
	if len(v1) != 64 {
		t.Fatalf("CurrentKeyMaterialId %q", v1)
	}
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	gdk, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
	if err != nil || aws.ToString(gdk.KeyMaterialId) != v1 {
		t.Fatalf("GenerateDataKey KeyMaterialId = %q, want %q (%v)", aws.ToString(gdk.KeyMaterialId), v1, err)
	}
	wp, err := c.GenerateDataKeyWithoutPlaintext(ctx, &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(id), NumberOfBytes: aws.Int32(8)})
	if err != nil || aws.ToString(wp.KeyMaterialId) != v1 {
		t.Fatalf("GenerateDataKeyWithoutPlaintext KeyMaterialId = %q, want %q (%v)", aws.ToString(wp.KeyMaterialId), v1, err)
	}
	if _, err := c.RotateKeyOnDemand(ctx, &awskms.RotateKeyOnDemandInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	v2 := aws.ToString(describe(t, n, id).CurrentKeyMaterialId)
	if v2 == v1 || len(v2) != 64 {
		t.Fatalf("rotation did not change CurrentKeyMaterialId: %q", v2)
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || aws.ToString(dec.KeyMaterialId) != v1 {
		t.Fatalf("Decrypt of an old ciphertext: KeyMaterialId = %q, want %q (%v)", aws.ToString(dec.KeyMaterialId), v1, err)
	}
	re, err := c.ReEncrypt(ctx, &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: aws.String(id)})
	if err != nil || aws.ToString(re.SourceKeyMaterialId) != v1 || aws.ToString(re.DestinationKeyMaterialId) != v2 {
		t.Fatalf("ReEncrypt material IDs = %q → %q, want %q → %q (%v)", aws.ToString(re.SourceKeyMaterialId), aws.ToString(re.DestinationKeyMaterialId), v1, v2, err)
	}
}
