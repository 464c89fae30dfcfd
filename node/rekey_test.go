package node_test

// Rotate and rekey on a file-sealed node: keyring terms survive a restart
// and every term still opens what it sealed; a new unseal key sent by the
// operator replaces the old one, which then no longer opens the region.

import (
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

func TestRotateAndRekey_FileSeal(t *testing.T) {
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	op := signed(n.Node)
	var cts []sealed
	for term := 1; term <= 3; term++ {
		id := newKey(t, n.Client, nil)
		k, _ := n.FSM().Key(id)
		if got := binary.BigEndian.Uint32(k.Materials[0].Sealed); got != uint32(term) {
			t.Fatalf("key made in term %d sealed under term %d", term, got)
		}
		cts = append(cts, encrypt(t, n.Client, "term key", id, id, nil))
		var rot struct{ KeyringTerm, Terms int }
		mustOK(t, "RotateKeyring", op.Call(ctx(t), "RotateKeyring", struct{}{}, &rot))
		if rot.KeyringTerm != term+1 || rot.Terms != term+1 {
			t.Fatalf("rotation %d: %+v", term, rot)
		}
	}

	// Bad rekeys change nothing.
	for _, tc := range []struct {
		name string
		in   map[string]any
		want string
	}{
		{"short key", map[string]any{"NewKey": make([]byte, 16)}, "ValidationException"},
		{"zero key", map[string]any{"NewKey": make([]byte, 32)}, "ValidationException"},
		{"no key", map[string]any{}, "ValidationException"},
		{"shamir provider", map[string]any{"Provider": "shamir", "NewKey": seq32()}, "ValidationException"},
		{"pkcs11 provider", map[string]any{"Provider": "pkcs11", "NewKey": seq32()}, "ValidationException"},
	} {
		wantOpErr(t, tc.name, op.Call(ctx(t), "RekeyKey", tc.in, nil), tc.want)
	}
	wantOpErr(t, "a Shamir rekey of a file region", op.Call(ctx(t), "RekeyInit", map[string]int{"Shares": 3, "Threshold": 2}, nil), "KMSInvalidStateException")

	newKEK, err := crypto.Random(32)
	mustOK(t, "Random", err)
	var out struct{ Provider string }
	mustOK(t, "RekeyKey", op.Call(ctx(t), "RekeyKey", map[string]any{"NewKey": newKEK}, &out))
	if out.Provider != "file" {
		t.Fatalf("RekeyKey replaced provider %q", out.Provider)
	}
	for _, ct := range cts {
		mustDecrypt(t, n.Client, ct) // the running node keeps its keyring
	}
	mustOK(t, "Close", n.Close())

	// The old key file no longer opens the region.
	cfg := testConfig(dir)
	if n2, err := node.Start(ctx(t), cfg); err == nil {
		n2.Close()
		t.Fatal("the node started with the unseal key replaced by the rekey")
	} else if !strings.Contains(err.Error(), "wrong unseal key") {
		t.Fatalf("start with the old key: %v", err)
	}
	keyFile := filepath.Join(dir, "unseal.key")
	mustOK(t, "chmod", os.Chmod(keyFile, 0o600))
	mustOK(t, "write the new key", os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(newKEK)), 0o400))
	n = start(t, testnode.WithDataDir(dir))
	for _, ct := range cts {
		mustDecrypt(t, n.Client, ct)
	}
	var st sealStatus
	mustOK(t, "SealStatus", anon(n.URL()).Call(ctx(t), "SealStatus", struct{}{}, &st))
	if st.Sealed || st.KeyringTerm != 4 || st.Provider != "file" || st.Threshold != 0 {
		t.Fatalf("SealStatus after the restart: %+v", st)
	}
	// An unseal share means nothing to a file region.
	shares, _ := crypto.Split(newKEK, 3, 2)
	if _, err := giveShare(t, n.URL(), shares[0]); err != nil {
		t.Fatalf("Unseal of an unsealed file node: %v", err)
	}
}
