package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/kmsnode/kmsnode/api/wire"
)

// The hand encoder must produce exactly what encoding/json would.
func TestEncodeSecretMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"a\"b\\c\n\r\t\x01<>&", "é ✓ \u2028\u2029", "bad \xff utf8"}
	blobs := [][]byte{nil, {}, {0}, []byte("data key bytes"), bytes.Repeat([]byte{0xfe}, 1024)}
	var cases []any
	for _, s := range strs {
		for _, b := range blobs {
			cases = append(cases,
				&wire.DecryptResponse{KeyId: s, Plaintext: b, EncryptionAlgorithm: "SYMMETRIC_DEFAULT", KeyMaterialId: s},
				&wire.GenerateDataKeyResponse{CiphertextBlob: b, Plaintext: b, KeyId: s, KeyMaterialId: s},
				&wire.GenerateRandomResponse{Plaintext: b, CiphertextForRecipient: b},
			)
		}
	}
	for _, c := range cases {
		var got, want bytes.Buffer
		if !encodeSecret(&got, c) {
			t.Fatalf("%T not handled", c)
		}
		if err := json.NewEncoder(&want).Encode(c); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%T:\n got %s\nwant %s", c, got.Bytes(), want.Bytes())
		}
	}
	if encodeSecret(&bytes.Buffer{}, &wire.EncryptResponse{}) {
		t.Fatal("EncryptResponse carries no secret and should use encoding/json")
	}
}

func FuzzEncodeSecret(f *testing.F) {
	f.Add("arn:aws:kms:x", []byte("k"))
	f.Add("\xff<\u2028", []byte{})
	f.Fuzz(func(t *testing.T, s string, b []byte) {
		c := &wire.DecryptResponse{KeyId: s, Plaintext: b, KeyMaterialId: s}
		var got, want bytes.Buffer
		encodeSecret(&got, c)
		_ = json.NewEncoder(&want).Encode(c)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("got %s want %s", got.Bytes(), want.Bytes())
		}
	})
}
