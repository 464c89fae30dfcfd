package kms

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/kmsnode/kmsnode/crypto"
)

// Grant IDs and grant tokens.
//
// A grant ID is 64 lowercase hex digits, as AWS's are: 32 random bytes, or,
// for a call the client may retry (it sent an idempotency ID), 32 bytes
// derived from that ID, so a retry proposes the same grant.
//
// A grant token is opaque to clients and URL-safe: base64url (no padding)
// of a version byte, the key reference (crypto.KeyRef: type and 16 bytes),
// the 32 bytes of the grant ID and 16 random bytes, so every CreateGrant
// answer carries a new token, as AWS's do, and all tokens of a grant work
// alike. A token is not a secret (AWS's are not either) and carries no
// authority: it only tells a node which grant to wait for (withGrantTokens)
// and names the grant for RetireGrant. Every decision reads the grant from
// the key. Forging a token therefore gains nothing: naming another key's
// grant makes a node renew its lease, which any unknown key ID in a request
// does too, and RetireGrant authorizes the caller against the grant itself.
// No MAC is needed, and none is used, so tokens stay valid across unseal
// keys, rekeys and restores.

const (
	grantTokenVersion = 1
	grantIDBytes      = 32
	grantTokenNonce   = 16
	grantTokenBytes   = 1 + 1 + 16 + grantIDBytes + grantTokenNonce
)

// grantTokenLen is the length of an encoded token.
var grantTokenLen = base64.RawURLEncoding.EncodedLen(grantTokenBytes)

// newGrantID returns a grant ID, derived from idem when it is not empty.
func newGrantID(idem string) (string, error) {
	var b [grantIDBytes]byte
	if idem != "" {
		b = sha256.Sum256([]byte("kmsnode/grant-id/v1\x00" + idem))
	} else if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// newGrantToken returns a fresh token naming grant grantID of key keyID.
func newGrantToken(keyID, grantID string) (string, error) {
	ref, err := crypto.ParseKeyID(keyID)
	if err != nil {
		return "", err
	}
	var b [grantTokenBytes]byte
	b[0], b[1] = grantTokenVersion, ref.Type
	copy(b[2:18], ref.ID[:])
	if n, err := hex.Decode(b[18:18+grantIDBytes], []byte(grantID)); err != nil || n != grantIDBytes {
		return "", errorf(ErrInvalidGrantID, "Invalid grant ID %s.", grantID)
	}
	if _, err := rand.Read(b[18+grantIDBytes:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// parseGrantToken returns the key ID and grant ID a token names, or
// InvalidGrantTokenException.
func parseGrantToken(t string) (keyID, grantID string, err error) {
	invalid := errorf(ErrInvalidGrantToken, "The grant token is not valid.")
	if len(t) != grantTokenLen {
		return "", "", invalid
	}
	var b [grantTokenBytes]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(t)); err != nil || n != grantTokenBytes || b[0] != grantTokenVersion {
		return "", "", invalid
	}
	ref := crypto.KeyRef{Type: b[1]}
	copy(ref.ID[:], b[2:18])
	keyID = ref.String()
	if _, err := crypto.ParseKeyID(keyID); err != nil {
		return "", "", invalid // an unknown reference type
	}
	return keyID, hex.EncodeToString(b[18 : 18+grantIDBytes]), nil
}
