//go:build !pkcs11 || !cgo

package node

import (
	"errors"

	"github.com/kmsnode/kmsnode/kms"
)

// The default build is pure Go (CGO_ENABLED=0) and has no PKCS#11 support:
// seal=pkcs11 is still a known provider, so the error says how to get it
// rather than "unknown provider".
func init() {
	unsealProviders["pkcs11"] = func(*Config, bool) (kms.Unsealer, bool, error) {
		return nil, false, errors.New("node: seal pkcs11: this kmsnode was built without PKCS#11 support; build with -tags pkcs11 (cgo)")
	}
}
