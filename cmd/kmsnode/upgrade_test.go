package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// previousRelease is the last commit before command level 2 (identities,
// grants, keyring terms, rekey): a v0.1 node that stops at any command it
// does not know.
const previousRelease = "5089c87"

// buildRelease builds cmd/kmsnode of an earlier commit of this repository
// (git archive, so the checkout is untouched), or skips the test when the
// history is not there (a shallow clone).
func buildRelease(t *testing.T, commit string) string {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("SKIPPED: no git checkout to build release %s from: %v", commit, err)
	}
	repo := strings.TrimSpace(string(top))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", commit+"^{commit}").Run(); err != nil {
		t.Skipf("SKIPPED: commit %s is not in this clone (shallow?): %v", commit, err)
	}
	src := filepath.Join(t.TempDir(), "src")
	mustOK(t, "mkdir", os.MkdirAll(src, 0o755))
	archive := exec.Command("sh", "-c", "git -C \"$1\" archive \"$2\" | tar -x -C \"$3\"", "sh", repo, commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, out)
	}
	bin := filepath.Join(t.TempDir(), "kmsnode-"+commit)
	build := exec.Command("go", "build", "-o", bin, "./cmd/kmsnode")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build release %s: %v\n%s", commit, err, out)
	}
	return bin
}

// TestRollingUpgrade upgrades a 3-node region of the previous release one
// node at a time under load: service continues, nothing acknowledged is
// lost, the old nodes never meet a command they cannot apply (the new
// operations answer "upgrade in progress" instead), and once the last node
// runs the new release the region's command level rises and they work.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an older release and runs a 3-node region")
	}
	old := buildRelease(t, previousRelease)
	r := newRegion(t, 3)
	for _, sn := range r.nodes {
		sn.p = runBinary(t, old, sn.args...)
	}
	for _, sn := range r.nodes {
		sn.waitReady(t)
	}

	// Load: every worker encrypts, decrypts and now and then creates a key,
	// on whichever node answers; acknowledged keys and blobs are kept.
	var (
		mu       sync.Mutex
		keys     []string
		blobs    [][]byte
		ops      atomic.Int64
		failures atomic.Int64
	)
	first, err := r.nodes[0].client.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	mustOK(t, "CreateKey", err)
	keys = append(keys, *first.KeyMetadata.KeyId)
	// The load has its own clients: restarts replace the nodes' ones.
	clients := make([]*awskms.Client, len(r.nodes))
	for i, sn := range r.nodes {
		clients[i] = testnode.NewClient(sn.endpoint, clusterRegion, node.DevAccessKeyID, node.DevSecretAccessKey)
	}
	ctxLoad, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctxLoad.Err() == nil; i++ {
				// Each call tries the nodes in turn: a node being restarted
				// refuses connections, the others serve.
				ok := false
				for j := range r.nodes {
					c := clients[(w+i+j)%len(clients)]
					cctx, cancel := context.WithTimeout(ctxLoad, 5*time.Second)
					var err error
					if i%20 == 0 {
						var out *awskms.CreateKeyOutput
						if out, err = c.CreateKey(cctx, &awskms.CreateKeyInput{}); err == nil {
							mu.Lock()
							keys = append(keys, *out.KeyMetadata.KeyId)
							mu.Unlock()
						}
					} else {
						mu.Lock()
						k := keys[i%len(keys)]
						mu.Unlock()
						var out *awskms.EncryptOutput
						if out, err = c.Encrypt(cctx, &awskms.EncryptInput{KeyId: &k, Plaintext: []byte("upgrade")}); err == nil {
							mu.Lock()
							blobs = append(blobs, out.CiphertextBlob)
							mu.Unlock()
						}
					}
					cancel()
					if err == nil {
						ok = true
						break
					}
				}
				ops.Add(1)
				if !ok && ctxLoad.Err() == nil {
					failures.Add(1)
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	newOpsRefused := func(sn *serveNode) {
		t.Helper()
		_, err := sn.client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keys[0], GranteePrincipal: aws.String("arn:aws:iam::" + clusterAccount + ":user/x"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		var uoe *types.UnsupportedOperationException
		if !errors.As(err, &uoe) || !strings.Contains(uoe.ErrorMessage(), "upgraded") {
			t.Fatalf("CreateGrant in a mixed region: %v, want UnsupportedOperationException (upgrade in progress)", err)
		}
	}
	for i, sn := range r.nodes {
		before := ops.Load()
		testnode.Eventually(t, 30*time.Second, "load runs", func() bool { return ops.Load() > before+50 })
		if ws := sn.p.signal(syscall.SIGTERM); ws.ExitStatus() != 0 {
			t.Fatalf("%s (old) exit %v", sn.id, ws)
		}
		sn.start(t) // the new release, same data directory
		sn.waitReady(t)
		if i < len(r.nodes)-1 {
			newOpsRefused(sn)
			for _, other := range r.nodes[i+1:] {
				if other.p.exited() {
					t.Fatalf("old node %s stopped in a mixed region:\n%s", other.id, other.p.stderr.String())
				}
			}
		}
		if matches, _ := filepath.Glob(filepath.Join(dataDirOf(sn), "audit.log.unchained-*")); len(matches) != 1 {
			t.Errorf("%s: the pre-chain audit log was not moved aside: %v", sn.id, matches)
		}
	}
	// Every node runs the new release: the level rises, grants and
	// identities work.
	testnode.Eventually(t, 30*time.Second, "CreateGrant once the upgrade is done", func() bool {
		_, err := r.nodes[0].client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &keys[0], GranteePrincipal: aws.String("arn:aws:iam::" + clusterAccount + ":user/x"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
		return err == nil
	})
	mustOK(t, "CreateIdentity after the upgrade", testnode.OperatorCall(ctx(t), r.nodes[1].endpoint, clusterRegion, node.DevAccessKeyID, node.DevSecretAccessKey,
		"CreateIdentity", map[string]any{"Identity": "after-upgrade"}, nil))
	stop()
	wg.Wait()
	if f := failures.Load(); f > 0 {
		t.Errorf("%d of %d calls failed on every node during the upgrade", f, ops.Load())
	}
	// Nothing acknowledged is lost, on any node.
	mu.Lock()
	defer mu.Unlock()
	for _, sn := range r.nodes {
		for _, k := range keys {
			_, err := sn.client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &k})
			mustOK(t, sn.id+" DescribeKey "+k, err)
		}
		for i, b := range blobs {
			if i%10 != 0 && i != len(blobs)-1 {
				continue // a sample: every tenth, and the last
			}
			_, err := sn.client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: b})
			mustOK(t, sn.id+" Decrypt", err)
		}
	}
	t.Logf("%d keys, %d ciphertexts, %d calls during the upgrade", len(keys), len(blobs), ops.Load())
}

// dataDirOf returns the --data-dir of a node.
func dataDirOf(sn *serveNode) string {
	for i, a := range sn.args {
		if a == "--data-dir" && i+1 < len(sn.args) {
			return sn.args[i+1]
		}
	}
	return ""
}
