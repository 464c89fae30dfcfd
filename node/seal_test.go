package node_test

// Sealing at rest (design-notes §5): plaintext key material never touches
// the Raft log, the bolt file, snapshots or any other file of the data
// directory. The test recovers each key's material independently from the
// public pieces (the unseal key file and the sealed hierarchy in the FSM),
// proves it is the real material by decrypting API ciphertexts with it, and
// then searches every file for it in every usual encoding.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// secret is a byte string that must not appear in a set of files.
type secret struct {
	name string
	b    []byte
}

// encodings returns the forms in which b would betray itself in a file:
// raw, hex (both cases) and base64 (standard and URL alphabets, padded and
// not). For base64 it also returns the core of the encoding of b at byte
// offsets 1 and 2 within a longer encoded string, so b is found even inside
// a bigger base64 blob that does not start with it.
func encodings(b []byte) map[string][]byte {
	out := map[string][]byte{
		"raw":       b,
		"hex":       []byte(hex.EncodeToString(b)),
		"HEX":       []byte(strings.ToUpper(hex.EncodeToString(b))),
		"base64":    []byte(base64.StdEncoding.EncodeToString(b)),
		"base64raw": []byte(base64.RawStdEncoding.EncodeToString(b)),
		"base64url": []byte(base64.URLEncoding.EncodeToString(b)),
		"base64urlraw": []byte(
			base64.RawURLEncoding.EncodeToString(b)),
	}
	for off := 0; off < 3; off++ {
		prefixed := append(make([]byte, off), b...)
		for name, enc := range map[string]*base64.Encoding{"base64": base64.RawStdEncoding, "base64url": base64.RawURLEncoding} {
			s := enc.EncodeToString(prefixed)
			// Drop the first and last 4 characters: they mix bits of the
			// neighbouring bytes.
			out[fmt.Sprintf("%s@%d", name, off)] = []byte(s[4 : len(s)-4])
		}
	}
	return out
}

// dataFiles reads every regular file under dir.
func dataFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			files[rel] = readFile(t, path)
		}
		return nil
	})
	mustOK(t, "walk "+dir, err)
	return files
}

// findSecrets fails for each file (except those in allowed[secret name])
// holding a secret in any encoding.
func findSecrets(t *testing.T, files map[string][]byte, secrets []secret, allowed map[string]string) {
	t.Helper()
	for _, s := range secrets {
		encs := encodings(s.b)
		for name, content := range files {
			if allowed[s.name] == name {
				continue
			}
			for enc, needle := range encs {
				if bytes.Contains(content, needle) {
					t.Errorf("%s holds %s (%s encoding)", name, s.name, enc)
				}
			}
		}
	}
}

func TestPlaintextKeyMaterialNeverOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	c := n.Client
	ec := map[string]string{"purpose": "seal-test"}

	// Keys with several material versions, ciphertexts under each version,
	// and data keys (whose plaintext the API returns but must not store).
	var cts []sealed
	ids := []string{
		newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("seal: rotated twice")}),
		newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("seal: rotated once")}),
		newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("seal: mrk"), MultiRegion: aws.Bool(true)}),
		newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("seal: rotated after the snapshot")}),
	}
	rotate := func(id string) {
		_, err := c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
		mustOK(t, "RotateKeyOnDemand", err)
	}
	var dataKeys []secret
	dataKey := func(id string) {
		out, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
		mustOK(t, "GenerateDataKey", err)
		cts = append(cts, sealed{what: "data key", keyID: id, blob: out.CiphertextBlob, plaintext: out.Plaintext, ec: ec})
		dataKeys = append(dataKeys, secret{"data key under " + id, out.Plaintext})
	}
	for _, id := range ids {
		cts = append(cts, encrypt(t, c, "v1", id, id, ec))
	}
	rotate(ids[0])
	cts = append(cts, encrypt(t, c, "v2", ids[0], ids[0], ec))
	dataKey(ids[0])
	rotate(ids[0])
	cts = append(cts, encrypt(t, c, "v3", ids[0], ids[0], nil))
	rotate(ids[1])
	cts = append(cts, encrypt(t, c, "v2", ids[1], ids[1], ec))
	dataKey(ids[2])

	mustOK(t, "Snapshot", n.Cluster().Snapshot())
	rotate(ids[3]) // this material is only in the log, not the snapshot
	cts = append(cts, encrypt(t, c, "v2", ids[3], ids[3], ec))
	dataKey(ids[3])

	// The public pieces: the sealed hierarchy and the key records.
	seal := n.FSM().Seal()
	if seal == nil {
		t.Fatal("the FSM holds no seal")
	}
	keys := map[string]*fsm.Key{}
	for _, id := range ids {
		k, ok := n.FSM().Key(id)
		if !ok {
			t.Fatalf("key %s not in the FSM", id)
		}
		keys[id] = k
	}
	mustOK(t, "Close", n.Close())

	// Open the hierarchy with the unseal key, as an attacker holding the
	// data directory and the unseal key could.
	kek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(readFile(t, filepath.Join(dir, "unseal.key")))))
	if err != nil || len(kek) != crypto.KeySize {
		t.Fatalf("unseal.key is not a base64 32-byte key: %v (%d bytes)", err, len(kek))
	}
	root, err := crypto.Unwrap(kek, seal.WrappedRoot["file"], crypto.RootAAD(testRegion, "file"))
	mustOK(t, "unwrap the root key", err)
	if !crypto.VerifyRootCheck(root, seal.RootCheck) {
		t.Fatal("the root key does not match the seal's check value")
	}
	secrets := []secret{{"the unseal key", kek}, {"the region root key", root}}
	keyring := crypto.NewKeyring()
	for _, term := range seal.Terms {
		tk, err := crypto.Unwrap(root, term.Sealed, crypto.TermAAD(testRegion, term.Number))
		mustOK(t, "unwrap a keyring term", err)
		keyring.Add(term.Number, tk)
		secrets = append(secrets, secret{fmt.Sprintf("keyring term %d", term.Number), tk})
	}
	type matRef struct {
		id string
		v  uint32
	}
	materials := map[matRef][]byte{}
	var sealedBlobs []secret
	for _, id := range ids {
		for _, m := range keys[id].Materials {
			mat, err := keyring.OpenMaterial(m.Sealed, crypto.SealAAD{Region: testRegion, KeyID: id, Version: m.Version, Purpose: "key-material"})
			if err != nil {
				t.Fatalf("open material %s v%d: %v", id, m.Version, err)
			}
			if len(mat) != crypto.KeySize {
				t.Fatalf("material %s v%d is %d bytes", id, m.Version, len(mat))
			}
			materials[matRef{id, m.Version}] = mat
			secrets = append(secrets, secret{fmt.Sprintf("material of %s v%d", id, m.Version), mat})
			sealedBlobs = append(sealedBlobs, secret{fmt.Sprintf("sealed material of %s v%d", id, m.Version), m.Sealed})
		}
	}
	if len(materials) != 3+2+1+2 {
		t.Fatalf("recovered %d material versions, want 8", len(materials))
	}

	// Prove these are the real materials: each decrypts the API's
	// ciphertexts of its version, and no other version does.
	for _, s := range cts {
		v := blobVersion(t, s.blob)
		pt, err := crypto.Decrypt(materials[matRef{s.keyID, v}], s.blob, s.ec)
		if err != nil || !bytes.Equal(pt, s.plaintext) {
			t.Fatalf("recovered material of %s v%d does not decrypt %q: %v", s.keyID, v, s.what, err)
		}
		for ref, other := range materials {
			if ref != (matRef{s.keyID, v}) {
				if _, err := crypto.Decrypt(other, s.blob, s.ec); err == nil {
					t.Fatalf("material of %s v%d also decrypts a ciphertext of %s v%d", ref.id, ref.v, s.keyID, v)
				}
			}
		}
		secrets = append(secrets, secret{"plaintext of " + s.what + " under " + s.keyID, s.plaintext})
	}
	secrets = append(secrets, dataKeys...)

	files := dataFiles(t, dir)
	for _, want := range []string{"unseal.key", "audit.log", filepath.Join("raft", "raft.db")} {
		if _, ok := files[want]; !ok {
			t.Fatalf("data directory has no %s; files: %v", want, keysOf(files))
		}
	}
	var snapshot string
	for name := range files {
		if strings.HasPrefix(name, filepath.Join("raft", "snapshots")) && strings.HasSuffix(name, "state.bin") {
			snapshot = name
		}
	}
	if snapshot == "" {
		t.Fatalf("no snapshot in the data directory; files: %v", keysOf(files))
	}

	// Positive controls: the search does find what is stored. The sealed
	// material (base64 in the JSON commands) is in the snapshot (versions
	// before it) or the Raft log, and the key IDs are in the audit log.
	for _, sb := range sealedBlobs {
		enc := []byte(base64.StdEncoding.EncodeToString(sb.b))
		if !bytes.Contains(files[snapshot], enc) && !bytes.Contains(files[filepath.Join("raft", "raft.db")], enc) {
			t.Errorf("%s is neither in the snapshot nor in raft.db: the search does not see the stored state", sb.name)
		}
	}
	for _, id := range ids {
		if !bytes.Contains(files["audit.log"], []byte(id)) {
			t.Errorf("audit.log does not mention key %s", id)
		}
	}

	// The real check: no plaintext secret anywhere, in any encoding. The
	// unseal key itself is allowed in unseal.key only (development mode).
	findSecrets(t, files, secrets, map[string]string{"the unseal key": "unseal.key"})
	t.Logf("searched %d files (%d bytes) for %d secrets", len(files), totalSize(files), len(secrets))
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func totalSize(m map[string][]byte) int {
	n := 0
	for _, b := range m {
		n += len(b)
	}
	return n
}

// startErr runs node.Start with cfg and returns its error (closing the
// node if it started after all). A panic inside Start is recovered and
// reported as a known bug, which skips the rest of the test.
func startErr(t *testing.T, cfg node.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	n, err, panicked := startRecover(ctx, cfg)
	if panicked != nil {
		t.Fatalf("node.Start panicked: %v", panicked)
	}
	if err == nil {
		_ = n.Close()
		return nil
	}
	if d := time.Since(began); d > 20*time.Second {
		t.Errorf("node.Start took %v to fail", d)
	}
	return err
}

func startRecover(ctx context.Context, cfg node.Config) (n *node.Node, err error, panicked any) {
	defer func() { panicked = recover() }()
	n, err = node.Start(ctx, cfg)
	return n, err, nil
}

// replaceFile writes content to path even if the existing file is
// read-only (the unseal key file is written 0400).
func replaceFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	mustOK(t, "write "+path, os.WriteFile(path, content, 0o600))
}

func TestUnsealKeyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	if !n.CreatedUnsealKey {
		t.Fatal("a new data directory did not get a new unseal key")
	}
	keyPath := filepath.Join(dir, "unseal.key")
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("unseal.key: %v, mode %v (want 0400)", err, fi.Mode().Perm())
	}
	id := newKey(t, n.Client, nil)
	s := encrypt(t, n.Client, "before", id, id, nil)
	mustOK(t, "Close", n.Close())
	good := readFile(t, keyPath)
	goodKey, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(good)))
	mustOK(t, "decode unseal.key", err)

	other, err := crypto.Random(32)
	mustOK(t, "random", err)
	for _, tc := range []struct {
		name    string
		content []byte
		want    string // in the error message
	}{
		{"wrong key (base64)", []byte(base64.StdEncoding.EncodeToString(other) + "\n"), "wrong unseal key"},
		{"wrong key (raw 32 bytes)", other, "wrong unseal key"},
		{"16-byte key (base64)", []byte(base64.StdEncoding.EncodeToString(other[:16]) + "\n"), "must be 32 bytes"},
		{"48-byte key (base64)", []byte(base64.StdEncoding.EncodeToString(append(other, other[:16]...))), "must be 32 bytes"},
		{"31 raw bytes", other[:31], "must be 32 bytes"},
		{"33 raw bytes", append(append([]byte(nil), other...), 'x'), "must be 32 bytes"},
		{"empty file", nil, "must be 32 bytes"},
		{"not base64", []byte("this is not a key at all, not even base64!!\n"), "must be 32 bytes"},
	} {
		replaceFile(t, keyPath, tc.content)
		err := startErr(t, testConfig(dir))
		if err == nil {
			t.Errorf("%s: node.Start succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.want)
		}
	}

	// A missing key file without CreateKeyFile is a clear error too.
	mustOK(t, "remove", os.Remove(keyPath))
	cfg := testConfig(dir)
	cfg.Seal.CreateKeyFile = false
	if err := startErr(t, cfg); err == nil || !strings.Contains(err.Error(), "unseal key") {
		t.Errorf("missing unseal key: error %v", err)
	}

	// The same key, raw instead of base64, opens the region; and every
	// failed start released the data directory (bolt lock, files).
	replaceFile(t, keyPath, goodKey)
	n2 := start(t, testnode.WithDataDir(dir))
	mustDecrypt(t, n2.Client, s)
	mustOK(t, "Close", n2.Close())
	replaceFile(t, keyPath, good)
	n3 := start(t, testnode.WithDataDir(dir))
	mustDecrypt(t, n3.Client, s)
	if n3.CreatedUnsealKey {
		t.Error("CreatedUnsealKey on an existing key file")
	}
}

// TestMissingUnsealKeyOnExistingRegion: development mode creates an unseal
// key for a new data directory only. On a directory that already holds a
// region, a missing key file must be reported as missing, not replaced by a
// fresh key that can never open the region.
func TestMissingUnsealKeyOnExistingRegion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	newKey(t, n.Client, nil)
	mustOK(t, "Close", n.Close())
	keyPath := filepath.Join(dir, "unseal.key")
	mustOK(t, "remove", os.Remove(keyPath))

	err := startErr(t, testConfig(dir)) // CreateKeyFile is on, as in `kmsnode dev`
	if err == nil {
		t.Fatal("node.Start succeeded without the region's unseal key")
	}
	_, statErr := os.Stat(keyPath)
	if statErr == nil || !strings.Contains(err.Error(), "unseal key") || strings.Contains(err.Error(), "wrong unseal key") {
		msg := "node/seal.go fileUnsealer: with Seal.CreateKeyFile (kmsnode dev) a missing unseal key " +
			"file is replaced by a fresh random key even when the data directory already holds a sealed region; " +
			"Start then fails with 'wrong unseal key' and leaves a useless unseal.key behind. Error was: " + err.Error()
		t.Fatal(msg)
	}
}
