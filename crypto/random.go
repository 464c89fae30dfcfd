package crypto

import (
	"crypto/rand"
	"errors"
)

// Random returns n bytes read from [crypto/rand]. It fails only for a
// negative n.
func Random(n int) ([]byte, error) {
	if n < 0 {
		return nil, errors.New("crypto: negative random length")
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Zero overwrites b with zeros. Use it on every buffer that held key
// material or a derived key once it is no longer needed.
//
// Zeroing is best effort: it cannot reach copies the Go runtime or the
// standard library made (moved stacks, expanded AES key schedules).
func Zero(b []byte) {
	clear(b)
}
