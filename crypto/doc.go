// Package crypto holds kmsnode's cryptography: the versioned ciphertext blob
// (format v1), the per-call derived AES-256-GCM key, the canonical encryption
// context bound as additional authenticated data, and the sealing of key
// material at rest under the region keyring.
//
// It imports only the Go standard library. Invariants:
//
//   - Every authentication failure of [Decrypt] returns the one error
//     [ErrInvalidCiphertext]; callers never learn which check failed. The
//     same holds for [Unwrap] and [Keyring.OpenMaterial] with [ErrUnseal].
//   - Plaintext key material handed to this package is never retained beyond
//     the call unless stored in a [Keyring], whose [Keyring.Wipe] zeroes it.
//     Derived per-message keys are zeroed after use. The AES key schedules
//     inside the standard library cannot be zeroed from here.
//   - The blob header carries the key reference and material version but no
//     region, so a multi-region key's ciphertext opens in every region.
//   - The byte formats are pinned by known-answer tests; changing one means a
//     new format or suite byte, never an edit of the old vectors.
//
// Files: blob.go (ciphertext blob v1), keyid.go (key IDs and [KeyRef]),
// context.go (canonical encryption context), seal.go ([Wrap], root check,
// [SealAAD]), hierarchy.go (AAD of the wrapped root key and terms),
// keyring.go (keyring terms, sealed material), shamir.go (Shamir secret
// sharing of the unseal key over GF(2^8), constant time), random.go,
// errors.go.
//
// See the design notes (shared/design/design-notes.md) §5.2 (sealing) and
// §6.2 (blob format).
package crypto
