package testnode_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

func TestSmoke(t *testing.T) {
	n := testnode.Start(t)
	out, err := n.Client.CreateKey(testnode.Ctx(t), &awskms.CreateKeyInput{Description: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := n.Client.Encrypt(testnode.Ctx(t), &awskms.EncryptInput{KeyId: out.KeyMetadata.KeyId, Plaintext: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := n.Client.Decrypt(testnode.Ctx(t), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "hi" {
		t.Fatal(err, dec)
	}
}
