//go:build !pkcs11 || !cgo

package node_test

import (
	"testing"

	"github.com/kmsnode/kmsnode/node"
)

// The default (pure Go) build knows seal=pkcs11 and says how to get it.
func TestPKCS11SealNotBuiltIn(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	slot := uint(0)
	cfg.Seal = node.SealConfig{Provider: "pkcs11", PKCS11: node.PKCS11SealConfig{
		Lib: "/usr/lib/softhsm/libsofthsm2.so", Slot: &slot, KeyLabel: "kms-root",
	}}
	wantStartErr(t, cfg, "built without PKCS#11 support", "-tags pkcs11")
}
