//go:build pkcs11 && cgo

package node

import "github.com/kmsnode/kmsnode/kms"

// NewPKCS11Unsealer gives the external tests (FuzzPKCS11Unwrap) the pkcs11
// provider itself, to call Unwrap without a node around it.
func NewPKCS11Unsealer(c *Config) (kms.Unsealer, error) {
	u, _, err := pkcs11UnsealerFor(c, true)
	return u, err
}
