package node_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/opclient"
	"github.com/kmsnode/kmsnode/internal/snapfile"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

func devOpClient(n *testnode.Node) *opclient.Client {
	return opclient.New(n.URL(), n.Config.Region, aws.Credentials{AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey})
}

func saveSnapshot(t *testing.T, n *testnode.Node) []byte {
	t.Helper()
	resp, err := devOpClient(n).Fetch(ctx(t), "SnapshotSave", struct{}{})
	if err != nil {
		t.Fatalf("SnapshotSave: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || int64(len(b)) != resp.ContentLength {
		t.Fatalf("read snapshot: %d of %d bytes, %v", len(b), resp.ContentLength, err)
	}
	if _, err := snapfile.Verify(bytes.NewReader(b)); err != nil {
		t.Fatalf("saved snapshot: %v", err)
	}
	return b
}

func restoreSnapshot(t *testing.T, n *testnode.Node, archive []byte, force bool) (map[string]any, error) {
	t.Helper()
	sum := sha256.Sum256(archive)
	q := url.Values{}
	if force {
		q.Set("Force", "true")
	}
	resp, err := devOpClient(n).Stream(ctx(t), "SnapshotRestore", q, bytes.NewReader(archive), int64(len(archive)), hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out, nil
}

// Restoring an older snapshot of the same region (a rollback) after the
// keyring was rotated: the node reopens the restored seal with the root key
// it holds (the unseal key file is even out of reach), drops the newer term
// the restored seal does not know, and seals new material under a term of
// the restored seal, so it survives a restart.
func TestRestoreOlderSnapshotAfterKeyringRotation(t *testing.T) {
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	k1 := newKey(t, n.Client, &awskms.CreateKeyInput{Description: aws.String("before")})
	c1 := encrypt(t, n.Client, "before", k1, k1, nil)
	archive := saveSnapshot(t, n)

	if err := testnode.OperatorCall(ctx(t), n.URL(), n.Config.Region, node.DevAccessKeyID, node.DevSecretAccessKey, "RotateKeyring", struct{}{}, nil); err != nil {
		t.Fatalf("RotateKeyring: %v", err)
	}
	k2 := newKey(t, n.Client, &awskms.CreateKeyInput{Description: aws.String("after, under term 2")})

	// Without --force the region is not new.
	_, err := restoreSnapshot(t, n, archive, false)
	var ae *opclient.APIError
	if !errors.As(err, &ae) || ae.Type != "KMSInvalidStateException" {
		t.Fatalf("restore into a region with keys: %v", err)
	}

	keyFile := filepath.Join(dir, "unseal.key")
	moved := keyFile + ".away"
	if err := os.Rename(keyFile, moved); err != nil {
		t.Fatal(err)
	}
	res, err := restoreSnapshot(t, n, archive, true)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res["Sealed"] != false {
		t.Fatalf("restore answered %v", res)
	}
	if n.Sealed() {
		t.Fatal("the node is sealed after restoring its own region's snapshot")
	}
	mustDecrypt(t, n.Client, c1)
	_, err = n.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &k2})
	testnode.WantErr(t, err, "NotFoundException")
	k3 := newKey(t, n.Client, &awskms.CreateKeyInput{Description: aws.String("after the restore")})
	c3 := encrypt(t, n.Client, "after the restore", k3, k3, nil)

	if err := os.Rename(moved, keyFile); err != nil {
		t.Fatal(err)
	}
	testnode.MustOK(t, "close", n.Close())
	n = start(t, testnode.WithDataDir(dir))
	mustDecrypt(t, n.Client, c1)
	mustDecrypt(t, n.Client, c3) // sealed under a term the restored seal holds
}

// A shamir region restored into a new shamir region: the new region's
// nodes cannot check or open the snapshot's seal without shares, so the
// restore leaves them sealed; the snapshot region's shares open them (the
// new region's own do not), the ciphertext decrypts, and the node's audit
// key is re-sealed under the restored keyring once it is unsealed, so it
// starts again.
func TestRestoreShamirRegion(t *testing.T) {
	outA := &testnode.Buffer{}
	a := start(t, withShamir(outA, 3, 2))
	sharesA := waitShares(t, outA, 3)
	testnode.Eventually(t, 30*time.Second, "region A unsealed", func() bool { return !a.Sealed() })
	k := newKey(t, a.Client, nil)
	c := encrypt(t, a.Client, "in A", k, k, nil)
	archive := saveSnapshot(t, a)
	mustOK(t, "close A", a.Close())

	dirB := t.TempDir()
	outB := &testnode.Buffer{}
	b := start(t, testnode.WithDataDir(dirB), withShamir(outB, 3, 2))
	sharesB := waitShares(t, outB, 3)
	testnode.Eventually(t, 30*time.Second, "region B unsealed", func() bool { return !b.Sealed() })
	keyFile := filepath.Join(dirB, "audit-key.sealed")
	testnode.Eventually(t, 30*time.Second, "node B's audit key created", func() bool {
		_, err := os.Stat(keyFile)
		return err == nil
	})
	before := readFile(t, keyFile)

	res, err := restoreSnapshot(t, b, archive, false)
	mustOK(t, "restore", err)
	if res["Sealed"] != true || !strings.Contains(res["Detail"].(string), "Shamir shares") {
		t.Fatalf("restore answered %v", res)
	}
	if !b.Sealed() {
		t.Fatal("node B is unsealed with a keyring the restore replaced")
	}
	_, err = giveShare(t, b.URL(), sharesB[0])
	mustOK(t, "Unseal", err)
	_, err = giveShare(t, b.URL(), sharesB[1])
	wantOpErr(t, "region B's own shares", err, "IncorrectKeyException")
	testnode.Eventually(t, 30*time.Second, "the unseal back-off over", func() bool {
		return getSealStatus(t, b.URL()).RetryAfterSeconds == 0
	})
	unsealNode(t, b.URL(), sharesA[0], sharesA[2])
	testnode.Eventually(t, 30*time.Second, "node B ready", func() bool { return b.Ready() == nil })
	mustDecrypt(t, b.Client, c)
	testnode.Eventually(t, 30*time.Second, "the audit key re-sealed", func() bool {
		return !bytes.Equal(readFile(t, keyFile), before)
	})

	mustOK(t, "close B", b.Close())
	b = start(t, testnode.WithDataDir(dirB), withShamir(io.Discard, 3, 2))
	unsealNode(t, b.URL(), sharesA[1], sharesA[2])
	testnode.Eventually(t, 30*time.Second, "node B ready", func() bool { return b.Ready() == nil })
	mustDecrypt(t, b.Client, c)
}
