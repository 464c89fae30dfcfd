package crypto

import (
	"crypto/rand"
	"encoding/hex"
)

// keyIDLen is the length of both key ID forms: a dashed UUID and
// "mrk-" followed by 32 hex digits.
const keyIDLen = 36

const mrkPrefix = "mrk-"

// KeyRef is the 17-byte key reference of a blob: a type byte
// ([RefTypeUUID] or [RefTypeMRK]) and the 16 bytes of the key ID.
type KeyRef struct {
	Type byte
	ID   [16]byte
}

// ParseKeyID parses a KMS key ID: a UUID such as
// "1234abcd-12ab-34cd-56ef-1234567890ab" (any hex case) gives a
// [RefTypeUUID] reference, and "mrk-" followed by 32 hex digits a
// [RefTypeMRK] one. Anything else, including ARNs and aliases, which the
// caller must resolve first, yields [ErrInvalidKeyID].
//
// Hex digits may be upper or lower case, so compare key IDs through
// [KeyRef.String], not as the client spelled them.
func ParseKeyID(id string) (KeyRef, error) {
	var r KeyRef
	if len(id) != keyIDLen {
		return KeyRef{}, ErrInvalidKeyID
	}
	if id[:len(mrkPrefix)] == mrkPrefix {
		if !decodeHex(r.ID[:], id[len(mrkPrefix):]) {
			return KeyRef{}, ErrInvalidKeyID
		}
		r.Type = RefTypeMRK
		return r, nil
	}
	if id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' ||
		!decodeHex(r.ID[0:4], id[0:8]) ||
		!decodeHex(r.ID[4:6], id[9:13]) ||
		!decodeHex(r.ID[6:8], id[14:18]) ||
		!decodeHex(r.ID[8:10], id[19:23]) ||
		!decodeHex(r.ID[10:16], id[24:36]) {
		return KeyRef{}, ErrInvalidKeyID
	}
	r.Type = RefTypeUUID
	return r, nil
}

// String returns the canonical key ID of r: a lowercase dashed UUID for
// [RefTypeUUID], "mrk-" and 32 lowercase hex digits for [RefTypeMRK], and
// "!INVALID:<type>" (which [ParseKeyID] rejects) for any other type.
func (r KeyRef) String() string {
	var b [keyIDLen]byte
	switch r.Type {
	case RefTypeUUID:
		encodeHex(b[0:8], r.ID[0:4])
		b[8] = '-'
		encodeHex(b[9:13], r.ID[4:6])
		b[13] = '-'
		encodeHex(b[14:18], r.ID[6:8])
		b[18] = '-'
		encodeHex(b[19:23], r.ID[8:10])
		b[23] = '-'
		encodeHex(b[24:36], r.ID[10:16])
		return string(b[:])
	case RefTypeMRK:
		copy(b[:], mrkPrefix)
		encodeHex(b[len(mrkPrefix):], r.ID[:])
		return string(b[:])
	default:
		encodeHex(b[:2], []byte{r.Type})
		return "!INVALID:" + string(b[:2])
	}
}

// NewKeyID returns a fresh random key ID: a version 4 UUID, or
// "mrk-" and 32 random hex digits when multiRegion is true.
func NewKeyID(multiRegion bool) (string, error) {
	r := KeyRef{Type: RefTypeUUID}
	if _, err := rand.Read(r.ID[:]); err != nil {
		return "", err
	}
	if multiRegion {
		r.Type = RefTypeMRK
	} else {
		r.ID[6] = r.ID[6]&0x0f | 0x40 // version 4
		r.ID[8] = r.ID[8]&0x3f | 0x80 // RFC 9562 variant
	}
	return r.String(), nil
}

// validRefType reports whether t is a key reference type of format v1.
func validRefType(t byte) bool {
	return t == RefTypeUUID || t == RefTypeMRK
}

const hexDigits = "0123456789abcdef"

// encodeHex writes the lowercase hex of src to dst[:2*len(src)].
func encodeHex(dst, src []byte) {
	for i, c := range src {
		dst[2*i] = hexDigits[c>>4]
		dst[2*i+1] = hexDigits[c&0x0f]
	}
}

// decodeHex decodes s, which must be exactly 2*len(dst) hex digits of
// either case, into dst (at most 16 bytes, so the copy stays on the stack).
func decodeHex(dst []byte, s string) bool {
	var buf [32]byte
	if len(s) != 2*len(dst) || len(s) > len(buf) {
		return false
	}
	n := copy(buf[:], s)
	m, err := hex.Decode(dst, buf[:n])
	return err == nil && m == len(dst)
}
