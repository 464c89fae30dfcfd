package crypto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
)

// rootCheckLabel is the HMAC message of [RootCheck].
const rootCheckLabel = "kmsnode/rrk-check"

// rootCheckSize is the length of a [RootCheck] value.
const rootCheckSize = 16

// Wrap seals plaintext (typically the Region Root Key, or a keyring term
// under the root key) under kek with AES-256-GCM and a random nonce, binding
// aad. The result is nonce(12) ‖ ciphertext ‖ tag(16). kek must be 32 bytes.
func Wrap(kek, plaintext, aad []byte) ([]byte, error) {
	return wrapWith(kek, plaintext, aad, nil)
}

// wrapWith is Wrap with an explicit nonce; nil means crypto/rand. Only tests
// pass a fixed one.
func wrapWith(kek, plaintext, aad, nonce []byte) ([]byte, error) {
	if len(kek) != KeySize {
		return nil, errKEKSize
	}
	if uint64(len(plaintext)) > maxPlaintext {
		return nil, errTooLarge
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	switch {
	case nonce == nil:
		rand.Read(out)
	case len(nonce) == nonceSize:
		copy(out, nonce)
	default:
		return nil, errSaltNonce
	}
	return aead.Seal(out, out[:nonceSize], plaintext, aad), nil
}

// Unwrap opens a blob made by [Wrap] with the same kek and aad. Any failure
// yields [ErrUnseal] (wrapped with a reason only for a kek of the wrong
// size, which is a caller bug). The caller owns, and should [Zero], the
// returned key.
func Unwrap(kek, wrapped, aad []byte) ([]byte, error) {
	if len(kek) != KeySize {
		return nil, errUnwrapKEKSize
	}
	if len(wrapped) < nonceSize+tagSize {
		return nil, ErrUnseal
	}
	aead, err := newGCM(kek)
	if err != nil {
		return nil, ErrUnseal
	}
	pt, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], aad)
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}

// RootCheck returns HMAC-SHA256(rrk, "kmsnode/rrk-check")[:16], the check
// value stored next to the wrapped Region Root Key. After unwrapping, compare
// it with [VerifyRootCheck] to detect a wrong key-encryption key before the
// root key is used.
func RootCheck(rrk []byte) []byte {
	m := hmac.New(sha256.New, rrk)
	m.Write([]byte(rootCheckLabel))
	return m.Sum(nil)[:rootCheckSize:rootCheckSize]
}

// VerifyRootCheck reports, in constant time, whether check is the
// [RootCheck] value of rrk.
func VerifyRootCheck(rrk, check []byte) bool {
	return hmac.Equal(RootCheck(rrk), check)
}

// SealAAD names what a sealed piece of material belongs to. It is bound as
// additional authenticated data by [Keyring.SealMaterial], so a sealed blob
// cannot be moved to another key, version, region or purpose: it then fails
// to open.
type SealAAD struct {
	Region  string // region whose keyring sealed the material
	KeyID   string // canonical key ID ([KeyRef.String])
	Version uint32 // material version
	Purpose string // what the material is for, e.g. "material" or "hpke"
}

// sealAADPrefix starts the additional data of a sealed material blob.
const sealAADPrefix = "kmsnode/seal/v1"

var errSealAAD = errors.New("crypto: seal AAD field too long")

// sealAADLen returns the length of the encoding of a by appendSealAAD, or
// an error if a field does not fit its uint32 length prefix.
func sealAADLen(a SealAAD) (int, error) {
	if uint64(len(a.Region)) > math.MaxUint32 || uint64(len(a.KeyID)) > math.MaxUint32 ||
		uint64(len(a.Purpose)) > math.MaxUint32 {
		return 0, errSealAAD
	}
	return len(sealAADPrefix) + 4 + len(a.Region) + 4 + len(a.KeyID) + 4 + 4 + len(a.Purpose), nil
}

// appendSealAAD appends the additional data of a sealed material blob:
//
//	"kmsnode/seal/v1" ‖ len(Region) uint32 BE ‖ Region ‖
//	len(KeyID) uint32 BE ‖ KeyID ‖ Version uint32 BE ‖
//	len(Purpose) uint32 BE ‖ Purpose
func appendSealAAD(dst []byte, a SealAAD) []byte {
	dst = append(dst, sealAADPrefix...)
	dst = appendPrefixed(dst, a.Region)
	dst = appendPrefixed(dst, a.KeyID)
	dst = binary.BigEndian.AppendUint32(dst, a.Version)
	return appendPrefixed(dst, a.Purpose)
}

func appendPrefixed(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}
