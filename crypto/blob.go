package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
)

// Ciphertext blob format v1 (design notes §6.2):
//
//	off  len  field
//	0    1    format version   FormatV1
//	1    1    suite id         SuiteV1
//	2    1    key ref type     RefTypeUUID or RefTypeMRK
//	3    16   key ref          binary key ID, the same in every region
//	19   4    material version uint32 BE
//	23   16   salt             crypto/rand
//	39   12   nonce            crypto/rand
//	51   n    ciphertext
//	51+n 16   GCM tag
//
//	K   = HKDF-SHA256(material, salt, "kmsnode/ct/v1" ‖ 0x00 ‖ blob[0:23])
//	AAD = blob[0:51] ‖ CanonicalContext(ec)
const (
	// KeySize is the size in bytes of one version of key material.
	KeySize = 32
	// FormatV1 is the first byte of a v1 ciphertext blob.
	FormatV1 = 0x01
	// SuiteV1 is the v1 cipher suite: HKDF-SHA256 key derivation, then
	// AES-256-GCM with a 16-byte salt, a 12-byte nonce and a 16-byte tag.
	SuiteV1 = 0x01
	// RefTypeUUID marks a key reference holding a UUID key ID.
	RefTypeUUID = 0x01
	// RefTypeMRK marks a key reference holding a multi-Region key ID
	// (mrk-<32 hex>).
	RefTypeMRK = 0x02
	// HeaderSize is the size of a v1 blob header: everything before the
	// ciphertext.
	HeaderSize = 51
	// Overhead is how much longer a v1 blob is than its plaintext: the
	// header plus the 16-byte GCM tag.
	Overhead = 67
)

const (
	offRefType = 2
	offRef     = 3
	offVersion = 19
	offSalt    = 23
	offNonce   = 39
	saltSize   = offNonce - offSalt
	nonceSize  = HeaderSize - offNonce
	tagSize    = 16

	// infoPrefix starts the HKDF info; blob[0:offSalt] follows it.
	infoPrefix = "kmsnode/ct/v1\x00"

	// maxPlaintext is the GCM limit for one message.
	maxPlaintext = (1<<32 - 2) * aes.BlockSize
)

// Header is what a v1 blob says about itself: which key and which version
// of its material sealed it.
type Header struct {
	Ref     KeyRef
	Version uint32
}

// ParseHeader reads the header of a v1 blob. It checks the format and suite
// bytes, the key reference type and that the blob is long enough to hold a
// header and a tag; any problem yields [ErrInvalidCiphertext]. It does not
// authenticate anything: only [Decrypt] does.
func ParseHeader(blob []byte) (Header, error) {
	if len(blob) < Overhead || blob[0] != FormatV1 || blob[1] != SuiteV1 || !validRefType(blob[offRefType]) {
		return Header{}, ErrInvalidCiphertext
	}
	var h Header
	h.Ref.Type = blob[offRefType]
	copy(h.Ref.ID[:], blob[offRef:offVersion])
	h.Version = binary.BigEndian.Uint32(blob[offVersion:offSalt])
	return h, nil
}

// Encrypt seals plaintext under material, the [KeySize]-byte key material of
// the key version h names, and returns a v1 blob of len(plaintext)+[Overhead]
// bytes. A fresh salt and nonce come from [crypto/rand] on every call, and
// the message key is derived from material, the salt and the header, so the
// 2^32-messages-per-key limit of random-nonce GCM does not apply.
//
// The encryption context ec is bound as additional authenticated data; the
// same context must be given to [Decrypt]. An invalid context yields an
// error wrapping [ErrInvalidContext]. Empty plaintext is accepted here; the
// API layer enforces AWS's 1–4096 byte limit.
func Encrypt(material []byte, h Header, plaintext []byte, ec map[string]string) ([]byte, error) {
	return encryptWith(material, h, plaintext, ec, nil, nil)
}

// encryptWith is Encrypt with an explicit salt and nonce; nil salt and nonce
// are read from crypto/rand. Only tests pass fixed values.
func encryptWith(material []byte, h Header, plaintext []byte, ec map[string]string, salt, nonce []byte) ([]byte, error) {
	if len(material) != KeySize {
		return nil, errMaterialSize
	}
	if !validRefType(h.Ref.Type) {
		return nil, errRefType
	}
	if uint64(len(plaintext)) > maxPlaintext {
		return nil, errTooLarge
	}
	var scratch [ctxScratch]ctxPair
	pairs, ctxLen, err := sortContext(ec, scratch[:0])
	if err != nil {
		return nil, err
	}

	// One allocation holds the blob and, past its end, the AAD when a
	// context must be appended to the header. The returned slice is capped
	// at the blob, so the AAD (header and context, nothing secret) is
	// unreachable through it.
	blobLen := HeaderSize + len(plaintext) + tagSize
	aadLen := 0
	if ctxLen > 0 {
		aadLen = HeaderSize + ctxLen
	}
	out := make([]byte, HeaderSize, blobLen+aadLen)
	out[0] = FormatV1
	out[1] = SuiteV1
	out[offRefType] = h.Ref.Type
	copy(out[offRef:offVersion], h.Ref.ID[:])
	binary.BigEndian.PutUint32(out[offVersion:offSalt], h.Version)
	switch {
	case salt == nil && nonce == nil:
		rand.Read(out[offSalt:HeaderSize])
	case len(salt) == saltSize && len(nonce) == nonceSize:
		copy(out[offSalt:offNonce], salt)
		copy(out[offNonce:HeaderSize], nonce)
	default:
		return nil, errSaltNonce
	}

	aead, err := messageAEAD(material, out[:offSalt], out[offSalt:offNonce])
	if err != nil {
		return nil, err
	}
	aad := out[:HeaderSize]
	if ctxLen > 0 {
		aad = append(out[blobLen:blobLen], out[:HeaderSize]...)
		aad = appendContext(aad, pairs)
	}
	out = aead.Seal(out, out[offNonce:HeaderSize], plaintext, aad)
	return out[:blobLen:blobLen], nil
}

// Decrypt opens a v1 blob with material, the key material of the key
// version the blob's header names (read it with [ParseHeader] to look the
// material up), and the encryption context given to [Encrypt]. Every
// failure, including an invalid context, yields [ErrInvalidCiphertext]
// (wrapped with a reason only for a material of the wrong size, which is a
// caller bug). The caller owns the returned plaintext.
func Decrypt(material []byte, blob []byte, ec map[string]string) ([]byte, error) {
	if len(material) != KeySize {
		return nil, errDecryptMatlen
	}
	if _, err := ParseHeader(blob); err != nil {
		return nil, ErrInvalidCiphertext
	}
	var scratch [ctxScratch]ctxPair
	pairs, ctxLen, err := sortContext(ec, scratch[:0])
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	aead, err := messageAEAD(material, blob[:offSalt], blob[offSalt:offNonce])
	if err != nil {
		return nil, ErrInvalidCiphertext
	}

	// As in encryptWith, the AAD lives past the end of the output.
	n := len(blob) - Overhead
	aad := blob[:HeaderSize]
	aadLen := 0
	if ctxLen > 0 {
		aadLen = HeaderSize + ctxLen
	}
	buf := make([]byte, n, n+aadLen)
	if ctxLen > 0 {
		aad = append(buf[n:n], blob[:HeaderSize]...)
		aad = appendContext(aad, pairs)
	}
	pt, err := aead.Open(buf[:0], blob[offNonce:HeaderSize], blob[HeaderSize:], aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt[:n:n], nil
}

// messageAEAD derives the per-message key
// K = HKDF-SHA256(material, salt, infoPrefix ‖ head) and returns
// AES-256-GCM under it. head is blob[0:offSalt]. The derived key and the
// HKDF pseudorandom key are zeroed before returning; the AES key schedule
// inside the returned AEAD cannot be, and is left to the garbage collector.
func messageAEAD(material, head, salt []byte) (cipher.AEAD, error) {
	var info [len(infoPrefix) + offSalt]byte
	copy(info[:], infoPrefix)
	copy(info[len(infoPrefix):], head)
	// Extract then Expand is exactly hkdf.Key, but leaves us the
	// pseudorandom key to zero.
	prk, err := hkdf.Extract(sha256.New, material, salt)
	if err != nil {
		return nil, err
	}
	key, err := hkdf.Expand(sha256.New, prk, string(info[:]), KeySize)
	Zero(prk)
	if err != nil {
		return nil, err
	}
	defer Zero(key)
	return newGCM(key)
}

// newGCM returns AES-256-GCM with a 12-byte nonce and a 16-byte tag under
// key, which must be 32 bytes.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
