package crypto

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidCiphertext is returned by [Decrypt] and [ParseHeader] for
	// every problem with a ciphertext blob: wrong length, unknown format or
	// suite, unknown key reference type, wrong encryption context, wrong key
	// material, or a failed authentication tag. Callers never learn which
	// check failed, so the error is no oracle.
	ErrInvalidCiphertext = errors.New("crypto: invalid ciphertext")

	// ErrInvalidContext is returned by [CanonicalContext] and [Encrypt] when
	// an encryption context has a key or value that is not valid UTF-8, a
	// key or value longer than 65535 bytes, or an encoding larger than
	// [MaxContextBytes]. Returned errors wrap it with a reason; test with
	// [errors.Is].
	ErrInvalidContext = errors.New("crypto: invalid encryption context")

	// ErrUnseal is returned by [Unwrap] and [Keyring.OpenMaterial] when a
	// sealed blob does not authenticate (wrong key, wrong additional data,
	// tampering, truncation) or names a keyring term that is not loaded.
	ErrUnseal = errors.New("crypto: unseal failed")

	// ErrInvalidKeyID is returned by [ParseKeyID] for a string that is
	// neither a UUID key ID nor a multi-Region key ID (mrk-<32 hex>).
	ErrInvalidKeyID = errors.New("crypto: invalid key ID")
)

// Errors for caller bugs. Those of Decrypt and Unwrap wrap the operation's
// sentinel so that callers mapping errors with errors.Is keep working, while
// logs say what went wrong.
var (
	errMaterialSize  = errors.New("crypto: key material must be 32 bytes")
	errDecryptMatlen = fmt.Errorf("crypto: key material must be 32 bytes: %w", ErrInvalidCiphertext)
	errKEKSize       = errors.New("crypto: key-encryption key must be 32 bytes")
	errUnwrapKEKSize = fmt.Errorf("crypto: key-encryption key must be 32 bytes: %w", ErrUnseal)
	errRefType       = errors.New("crypto: invalid key reference type")
	errTooLarge      = errors.New("crypto: plaintext too large")
	errSaltNonce     = errors.New("crypto: bad salt or nonce length")
)
