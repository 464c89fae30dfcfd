package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// verifyLog verifies audit files with key pinned and a signed tail required.
func verifyLog(t testing.TB, key string, paths ...string) *audit.Report {
	t.Helper()
	pub, err := audit.ParsePublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var in []audit.Input
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in = append(in, audit.Input{Name: p, R: f})
	}
	r := audit.Verify(in, audit.VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true})
	if !r.OK() {
		t.Fatalf("audit log does not verify: %s", r.Failure)
	}
	return r
}

// TestAuditKeySealedAndStable: the audit signing key is created at first
// start, kept sealed in the data directory, and the same after a restart;
// the log of both runs verifies under it. A damaged sealed key stops the
// node from starting rather than signing with a new one.
func TestAuditKeySealedAndStable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	key := n.AuditPublicKey()
	if _, err := audit.ParsePublicKey(key); err != nil {
		t.Fatalf("AuditPublicKey %q: %v", key, err)
	}
	sealedPath := filepath.Join(dir, "audit-key.sealed")
	st, err := os.Stat(sealedPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sealed key: %v, %v", st, err)
	}
	// term(4) ‖ nonce(12) ‖ AES-GCM of the 32-byte seed ‖ tag(16): sealed, not raw.
	if st.Size() != 4+12+32+16 {
		t.Errorf("the sealed key is %d bytes", st.Size())
	}
	if pub := strings.TrimSpace(string(readFile(t, filepath.Join(dir, "audit-key.pub")))); pub != key {
		t.Errorf("audit-key.pub = %q, want %q", pub, key)
	}
	id := newKey(t, n.Client, nil)
	encrypt(t, n.Client, "one", id, id, nil)
	mustOK(t, "Close", n.Close())

	n = start(t, testnode.WithDataDir(dir))
	if got := n.AuditPublicKey(); got != key {
		t.Fatalf("the audit key changed across a restart: %s → %s", key, got)
	}
	encrypt(t, n.Client, "two", id, id, nil)
	mustOK(t, "Close", n.Close())
	if r := verifyLog(t, key, filepath.Join(dir, "audit.log")); r.Headers != 2 || r.Records < 3 {
		t.Errorf("report %+v", r)
	}

	// A sealed key that does not open (damaged, or another node's) stops the start.
	sealed := readFile(t, sealedPath)
	sealed[len(sealed)-1] ^= 1
	if err := os.WriteFile(sealedPath, sealed, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir)
	_, err = node.Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "audit signing key") || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("start with a damaged audit key: %v", err)
	}
}

// breakAuditDir makes dir unusable for the audit log: it moves the
// directory away (the open file goes with it) and puts a plain file in its
// place, so the log cannot be created again. It returns where the old
// directory went; repair undoes it.
func breakAuditDir(t *testing.T, dir string) (moved string, repair func()) {
	t.Helper()
	moved = dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	return moved, func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
}

func readyz(t testing.TB, n *testnode.Node) (int, string) {
	t.Helper()
	resp, err := http.Get(n.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tryEncrypt(c *awskms.Client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	return err
}

// TestAuditFailClosed: when the audit log cannot be written the node
// refuses every call with KMSInternalException and fails /readyz, until
// the log can be written again; the calls it refused meanwhile are
// recorded, and the old and new files verify as one log.
func TestAuditFailClosed(t *testing.T) {
	t.Parallel()
	logDir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := start(t, func(c *node.Config) { c.AuditFile = filepath.Join(logDir, "audit.log") })
	key := n.AuditPublicKey()
	id := newKey(t, n.Client, nil)
	mustOK(t, "Encrypt", tryEncrypt(n.Client, id))

	moved, repair := breakAuditDir(t, logDir)
	var refused error
	testnode.Eventually(t, 20*time.Second, "the node refuses calls it cannot record", func() bool {
		refused = tryEncrypt(n.Client, id)
		return refused != nil
	})
	var ae smithy.APIError
	if !errors.As(refused, &ae) || ae.ErrorCode() != "KMSInternalException" ||
		ae.ErrorMessage() != "The audit log cannot be written; this node refuses requests it cannot record." {
		t.Fatalf("refused with %v", refused)
	}
	var re interface{ HTTPStatusCode() int }
	if !errors.As(refused, &re) || re.HTTPStatusCode() != 500 {
		t.Errorf("status of the refusal: %v", refused)
	}
	if code, body := readyz(t, n); code != http.StatusServiceUnavailable || !strings.Contains(body, "audit log") {
		t.Errorf("/readyz while failing = %d %q", code, body)
	}

	repair()
	testnode.Eventually(t, 20*time.Second, "the node serves again once the log can be written", func() bool {
		return tryEncrypt(n.Client, id) == nil
	})
	if code, body := readyz(t, n); code != http.StatusOK {
		t.Errorf("/readyz after recovery = %d %q", code, body)
	}
	mustOK(t, "Close", n.Close())
	newLog := filepath.Join(logDir, "audit.log")
	verifyLog(t, key, filepath.Join(moved, "audit.log"), newLog)
	if !bytes.Contains(readFile(t, newLog), []byte(`"errorCode":"KMSInternalException"`)) {
		t.Errorf("the refused calls are not recorded in the new file")
	}
}

// logSink keeps the messages a node logs.
type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSink) WithGroup(string) slog.Handler            { return l }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}

func (l *logSink) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// TestAuditFailOpen: with AuditFailOpen the node says so loudly, and keeps
// serving (and stays ready) while the log cannot be written; the calls it
// served meanwhile are written once the log can be.
func TestAuditFailOpen(t *testing.T) {
	t.Parallel()
	logDir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	logs := &logSink{}
	n := start(t, func(c *node.Config) {
		c.AuditFile = filepath.Join(logDir, "audit.log")
		c.AuditFailOpen = true
		c.Logger = slog.New(logs)
	})
	if !logs.has("AUDIT FAIL-OPEN") {
		t.Errorf("no warning at start")
	}
	key := n.AuditPublicKey()
	id := newKey(t, n.Client, nil)
	_, repair := breakAuditDir(t, logDir)
	testnode.Eventually(t, 20*time.Second, "the node notices the outage and says so", func() bool {
		mustOK(t, "Encrypt while the log cannot be written", tryEncrypt(n.Client, id))
		return logs.has("AUDIT LOG CANNOT BE WRITTEN")
	})
	for range 3 {
		mustOK(t, "Encrypt while the log cannot be written", tryEncrypt(n.Client, id))
	}
	if code, body := readyz(t, n); code != http.StatusOK {
		t.Fatalf("/readyz failing open = %d %q", code, body)
	}
	repair()
	mustOK(t, "Close", n.Close())
	// The new file continues the chain and holds the calls served meanwhile.
	if r := verifyLog(t, key, filepath.Join(logDir, "audit.log")); r.Records < 3 || !r.Continues {
		t.Errorf("report %+v", r)
	}
}

// TestAuditSealedStart: a node that starts sealed (shamir) records calls
// at once; its audit key is created, or opened, when it is unsealed, and
// the checkpoints written then cover the lines from before. The log of a
// new region and of a restart verifies under the one key.
func TestAuditSealedStart(t *testing.T) {
	dir := t.TempDir()
	out := &testnode.Buffer{}
	n := start(t, testnode.WithDataDir(dir), withShamir(out, 3, 2))
	shares := waitShares(t, out, 3)
	testnode.Eventually(t, 30*time.Second, "the new region's node unsealed", func() bool { return !n.Sealed() })
	var key string
	testnode.Eventually(t, 30*time.Second, "the audit key is created once unsealed", func() bool {
		key = n.AuditPublicKey()
		return key != ""
	})
	id := newKey(t, n.Client, nil)
	mustOK(t, "Close", n.Close())

	// Restarted sealed, the node names its key before it can use it.
	n = start(t, testnode.WithDataDir(dir), withShamir(&testnode.Buffer{}, 3, 2))
	if !n.Sealed() || n.AuditPublicKey() != key {
		t.Fatalf("sealed restart: sealed=%v key %q, want %q", n.Sealed(), n.AuditPublicKey(), key)
	}
	getSealStatus(t, n.URL()) // recorded while sealed, signed by a later checkpoint
	unsealNode(t, n.URL(), shares[:2]...)
	encrypt(t, n.Client, "after unseal", id, id, nil)
	mustOK(t, "Close", n.Close())
	r := verifyLog(t, key, filepath.Join(dir, "audit.log"))
	if r.Headers != 2 || r.Unsigned != 0 {
		t.Errorf("report %+v", r)
	}
}
