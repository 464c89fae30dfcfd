package node_test

// The shamir unseal provider end to end: a new region prints its shares
// once; a restarted node starts sealed, serves nothing but the unseal
// operations and /healthz, and opens again with a threshold of the shares;
// wrong, repeated or foreign shares are refused without unsealing; no share
// reaches the log, the audit log or the data directory.

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/opclient"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

var shareLine = regexp.MustCompile(`Unseal share (\d+): (\S+)`)

// waitShares waits until out shows n shares and decodes them.
func waitShares(t testing.TB, out *testnode.Buffer, n int) [][]byte {
	t.Helper()
	var shares [][]byte
	testnode.Eventually(t, 30*time.Second, "the unseal shares printed", func() bool {
		m := shareLine.FindAllStringSubmatch(out.String(), -1)
		if len(m) < n {
			return false
		}
		shares = shares[:0]
		for _, s := range m[:n] {
			b, err := base64.StdEncoding.DecodeString(s[2])
			if err != nil {
				t.Fatalf("share %s is not base64: %v", s[1], err)
			}
			shares = append(shares, b)
		}
		return true
	})
	return shares
}

// withShamir configures the shamir provider printing to out.
func withShamir(out io.Writer, shares, threshold int) testnode.Option {
	return func(c *node.Config) {
		c.Seal = node.SealConfig{Provider: "shamir", Shares: shares, Threshold: threshold, Output: out}
	}
}

// withLog sends the node's log to out.
func withLog(out io.Writer) testnode.Option {
	return func(c *node.Config) {
		c.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// sealStatus is the answer of Unseal and SealStatus.
type sealStatus struct {
	Sealed, Initialized bool
	Provider            string
	Threshold, Shares   int
	Progress            int
	KeyringTerm         uint32
	RetryAfterSeconds   int
}

// anon is an unsigned operator client of url (Unseal, SealStatus).
func anon(url string) *opclient.Client { return opclient.New(url, "", aws.Credentials{}) }

// signed is an operator client of a node signed with the development
// identity.
func signed(n *node.Node) *opclient.Client {
	return opclient.New(n.URL(), n.Config().Region, aws.Credentials{AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey})
}

func giveShare(t testing.TB, url string, share []byte) (sealStatus, error) {
	t.Helper()
	var st sealStatus
	err := anon(url).Call(ctx(t), "Unseal", map[string]any{"Key": share}, &st)
	return st, err
}

func getSealStatus(t testing.TB, url string) sealStatus {
	t.Helper()
	var st sealStatus
	mustOK(t, "SealStatus", anon(url).Call(ctx(t), "SealStatus", struct{}{}, &st))
	return st
}

// opErr returns the AWS error type of an operator call's error.
func opErr(err error) string {
	var ae *opclient.APIError
	if errors.As(err, &ae) {
		return ae.Type
	}
	if err == nil {
		return ""
	}
	return "<non-API error>: " + err.Error()
}

func wantOpErr(t testing.TB, what string, err error, typ string) {
	t.Helper()
	if got := opErr(err); got != typ {
		t.Fatalf("%s: want %s, got %q (%v)", what, typ, got, err)
	}
}

// unsealNode gives shares to the node at url until it is unsealed, retrying
// while it has not caught up with the region (DependencyTimeoutException).
func unsealNode(t testing.TB, url string, shares ...[]byte) {
	t.Helper()
	for i, s := range shares {
		var st sealStatus
		testnode.Eventually(t, 30*time.Second, "share accepted by "+url, func() bool {
			var err error
			st, err = giveShare(t, url, s)
			if opErr(err) == "DependencyTimeoutException" {
				return false
			}
			mustOK(t, "Unseal", err)
			return true
		})
		if last := i == len(shares)-1; st.Sealed == last {
			t.Fatalf("after share %d of %d: sealed=%v (%+v)", i+1, len(shares), st.Sealed, st)
		}
	}
}

func TestShamir_SingleNode(t *testing.T) {
	dir := t.TempDir()
	out1, log1 := &testnode.Buffer{}, &testnode.Buffer{}
	n := start(t, testnode.WithDataDir(dir), withShamir(out1, 5, 3), withLog(log1))
	shares := waitShares(t, out1, 5)
	testnode.Eventually(t, 30*time.Second, "the new region's node unsealed", func() bool { return !n.Sealed() })
	if !strings.Contains(out1.String(), "initialised; this node is unsealed") || !strings.Contains(out1.String(), "ONCE") {
		t.Fatalf("the initialisation output lacks its notices:\n%s", out1)
	}
	if len(shareLine.FindAllString(out1.String(), -1)) != 5 {
		t.Fatalf("want 5 shares printed once:\n%s", out1)
	}
	for _, s := range shares {
		if len(s) != crypto.ShareOverhead+crypto.KeySize || s[1] != 3 {
			t.Fatalf("share %x is not a 3-of-n share of a 32-byte key", s)
		}
	}
	id := newKey(t, n.Client, nil)
	ct := encrypt(t, n.Client, "before restart", id, id, map[string]string{"a": "b"})
	mustOK(t, "Close", n.Close())

	// Restart: sealed, whatever it is asked.
	out2, log2 := &testnode.Buffer{}, &testnode.Buffer{}
	n = start(t, testnode.WithDataDir(dir), withShamir(out2, 5, 3), withLog(log2))
	if !n.Sealed() {
		t.Fatal("a restarted shamir node is unsealed without shares")
	}
	_, err := n.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	testnode.WantErr(t, err, "KMSInternalException")
	var ae smithy.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), "sealed") {
		t.Fatalf("the refusal does not say the node is sealed: %v", err)
	}
	_, err = n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
	testnode.WantErr(t, err, "KMSInternalException")
	wantOpErr(t, "signed operator call while sealed", signed(n.Node).Call(ctx(t), "RotateKeyring", struct{}{}, nil), "KMSInternalException")
	wantOpErr(t, "ListMembers while sealed", signed(n.Node).Call(ctx(t), "ListMembers", struct{}{}, nil), "KMSInternalException")
	wantHTTP(t, n.URL()+"/healthz", http.StatusOK, "ok")
	wantHTTP(t, n.URL()+"/readyz", http.StatusServiceUnavailable, "sealed")

	var st sealStatus
	testnode.Eventually(t, 30*time.Second, "the restarted node knows its seal", func() bool {
		st = getSealStatus(t, n.URL())
		return st.Initialized
	})
	if want := (sealStatus{Sealed: true, Initialized: true, Provider: "shamir", Threshold: 3, Shares: 5}); st != want {
		t.Fatalf("SealStatus = %+v, want %+v", st, want)
	}

	// Bad input is refused without progress.
	_, err = giveShare(t, n.URL(), []byte("not a share"))
	wantOpErr(t, "malformed share", err, "ValidationException")
	wantOpErr(t, "no share", anon(n.URL()).Call(ctx(t), "Unseal", struct{}{}, nil), "ValidationException")
	wantOpErr(t, "not JSON", anon(n.URL()).Call(ctx(t), "Unseal", "[", nil), "SerializationException")
	st, err = giveShare(t, n.URL(), shares[0])
	mustOK(t, "share 1", err)
	if st.Progress != 1 || !st.Sealed {
		t.Fatalf("after one share: %+v", st)
	}
	_, err = giveShare(t, n.URL(), shares[0])
	wantOpErr(t, "the same share twice", err, "ValidationException")
	other, err := crypto.Split(seq32(), 5, 2)
	mustOK(t, "Split", err)
	_, err = giveShare(t, n.URL(), other[1])
	wantOpErr(t, "a share of a 2-of-5 set", err, "ValidationException")
	if st = getSealStatus(t, n.URL()); st.Progress != 1 {
		t.Fatalf("refused shares changed the progress: %+v", st)
	}
	// Reset drops the share given.
	mustOK(t, "Reset", anon(n.URL()).Call(ctx(t), "Unseal", map[string]any{"Reset": true}, &st))
	if st.Progress != 0 || !st.Sealed {
		t.Fatalf("after Reset: %+v", st)
	}

	// A well-formed set that is not the region's: refused, progress reset,
	// and the node waits before it takes shares again.
	foreign, err := crypto.Split(seq32(), 5, 3)
	mustOK(t, "Split", err)
	for _, s := range foreign[:2] {
		_, err = giveShare(t, n.URL(), s)
		mustOK(t, "foreign share", err)
	}
	_, err = giveShare(t, n.URL(), foreign[2])
	wantOpErr(t, "a foreign share set", err, "IncorrectKeyException")
	if st = getSealStatus(t, n.URL()); !st.Sealed || st.Progress != 0 || st.RetryAfterSeconds == 0 {
		t.Fatalf("after a failed set: %+v", st)
	}
	_, err = giveShare(t, n.URL(), shares[1])
	wantOpErr(t, "a share right after a failure", err, "LimitExceededException")

	// The right shares, another subset than the first: unsealed.
	testnode.Eventually(t, 30*time.Second, "the back-off over", func() bool {
		st, err = giveShare(t, n.URL(), shares[1])
		if opErr(err) == "LimitExceededException" {
			return false
		}
		mustOK(t, "share 2", err)
		return true
	})
	unsealNode(t, n.URL(), shares[3], shares[4])
	if n.Sealed() {
		t.Fatal("still sealed after the threshold of shares")
	}
	mustDecrypt(t, n.Client, ct)
	_ = encrypt(t, n.Client, "after unseal", id, id, nil)
	if st = getSealStatus(t, n.URL()); st.Sealed || st.KeyringTerm != 1 || st.Progress != 0 {
		t.Fatalf("SealStatus after unseal: %+v", st)
	}
	wantHTTP(t, n.URL()+"/readyz", http.StatusOK, "ready")
	// Unseal of an unsealed node is a no-op.
	if st, err = giveShare(t, n.URL(), shares[0]); err != nil || st.Sealed {
		t.Fatalf("Unseal of an unsealed node: %+v, %v", st, err)
	}
	if shareLine.MatchString(out2.String()) {
		t.Fatalf("a restarted node printed shares:\n%s", out2)
	}

	// No share anywhere: not in the logs, the audit log (which records the
	// Unseal calls) or any file of the data directory.
	mustOK(t, "Close", n.Close())
	audit := readFile(t, filepath.Join(dir, "audit.log"))
	if !bytes.Contains(audit, []byte("KmsNodeOperator.Unseal")) || !bytes.Contains(audit, []byte("IncorrectKeyException")) {
		t.Fatal("the audit log does not record the Unseal calls")
	}
	files := dataFiles(t, dir)
	files["node log 1"] = []byte(log1.String())
	files["node log 2"] = []byte(log2.String())
	for i, s := range shares {
		for enc, b := range encodings(s[crypto.ShareOverhead:]) {
			for name, data := range files {
				if bytes.Contains(data, b) {
					t.Errorf("share %d (%s) found in %s", i+1, enc, name)
				}
			}
		}
	}
}

// seq32 is a fixed 32-byte secret for foreign share sets.
func seq32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func wantHTTP(t testing.TB, url string, status int, body string) {
	t.Helper()
	resp, err := http.Get(url)
	mustOK(t, "GET "+url, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || !strings.Contains(string(b), body) {
		t.Fatalf("GET %s = %d %q, want %d with %q", url, resp.StatusCode, b, status, body)
	}
}

// A new shamir region needs somewhere to print its shares; a node of an
// existing region does not. Bad share sets are refused at start.
func TestShamir_Config(t *testing.T) {
	for _, tc := range []struct {
		name string
		seal node.SealConfig
		want string
	}{
		{"no output", node.SealConfig{Provider: "shamir"}, "Output"},
		{"threshold 1", node.SealConfig{Provider: "shamir", Shares: 3, Threshold: 1, Output: io.Discard}, "threshold"},
		{"threshold above shares", node.SealConfig{Provider: "shamir", Shares: 2, Threshold: 3, Output: io.Discard}, "threshold"},
		{"256 shares", node.SealConfig{Provider: "shamir", Shares: 256, Threshold: 3, Output: io.Discard}, "255"},
	} {
		cfg := testConfig(t.TempDir())
		cfg.Seal = tc.seal
		n, err := node.Start(ctx(t), cfg)
		if err == nil {
			n.Close()
			t.Fatalf("%s: node started", tc.name)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v does not mention %q", tc.name, err, tc.want)
		}
	}
}
