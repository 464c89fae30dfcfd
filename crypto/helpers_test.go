package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"testing"
)

// seq returns n bytes start, start+1, ...
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

func mustParseKeyID(t testing.TB, id string) KeyRef {
	t.Helper()
	r, err := ParseKeyID(id)
	if err != nil {
		t.Fatalf("ParseKeyID(%q): %v", id, err)
	}
	return r
}

func mustEncrypt(t testing.TB, material []byte, h Header, pt []byte, ec map[string]string) []byte {
	t.Helper()
	blob, err := Encrypt(material, h, pt, ec)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return blob
}

// refHKDF is RFC 5869 HKDF-SHA256 for one 32-byte output block, written
// independently of crypto/hkdf so that the known-answer tests check the
// format, not the implementation against itself.
func refHKDF(ikm, salt, info []byte) []byte {
	ext := hmac.New(sha256.New, salt)
	ext.Write(ikm)
	prk := ext.Sum(nil)
	exp := hmac.New(sha256.New, prk)
	exp.Write(info)
	exp.Write([]byte{1})
	return exp.Sum(nil)
}

// refContext is an independent canonical context encoder.
func refContext(ec map[string]string) []byte {
	if len(ec) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint16(len(keys)))
	for _, k := range keys {
		binary.Write(&b, binary.BigEndian, uint16(len(k)))
		b.WriteString(k)
		binary.Write(&b, binary.BigEndian, uint16(len(ec[k])))
		b.WriteString(ec[k])
	}
	return b.Bytes()
}

// refEncrypt builds a v1 blob straight from the design notes (§6.2).
func refEncrypt(material []byte, h Header, salt, nonce, pt []byte, ec map[string]string) []byte {
	head := []byte{0x01, 0x01, h.Ref.Type}
	head = append(head, h.Ref.ID[:]...)
	head = binary.BigEndian.AppendUint32(head, h.Version)
	info := append([]byte("kmsnode/ct/v1\x00"), head...)
	key := refHKDF(material, salt, info)
	head = append(head, salt...)
	head = append(head, nonce...)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	aad := append(append([]byte(nil), head...), refContext(ec)...)
	return gcm.Seal(head, nonce, pt, aad)
}
