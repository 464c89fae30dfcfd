package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/opclient"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// operatorEnv points the operator commands at n with the development
// identity.
func operatorEnv(t *testing.T, n *testnode.Node) {
	t.Setenv("KMSNODE_ENDPOINT", n.URL())
	t.Setenv("AWS_REGION", n.Config.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", node.DevAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", node.DevSecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
}

func TestOperatorRotateAndRekeyKey(t *testing.T) {
	n := testnode.Start(t)
	operatorEnv(t, n)
	code, out, errOut := cli("operator", "rotate")
	if code != 0 || !strings.Contains(out, "term 2") {
		t.Fatalf("rotate: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = cli("operator", "rotate", "--json")
	var rot map[string]int
	if code != 0 || json.Unmarshal([]byte(out), &rot) != nil || rot["keyring_term"] != 3 || rot["terms"] != 3 {
		t.Fatalf("rotate --json: exit %d\n%s%s", code, out, errOut)
	}
	if n.FSM().Seal().Terms[2].Number != 3 {
		t.Fatal("the region has no term 3")
	}

	dir := t.TempDir()
	kek, err := crypto.Random(32)
	if err != nil {
		t.Fatal(err)
	}
	good, short := filepath.Join(dir, "new.key"), filepath.Join(dir, "short.key")
	writeFileT(t, good, []byte(base64.StdEncoding.EncodeToString(kek)+"\n"))
	writeFileT(t, short, []byte("c2hvcnQ="))
	before := n.FSM().Seal().WrappedRoot["file"]
	if code, _, errOut = cli("operator", "rekey", "--new-key-file", short); code != 1 || !strings.Contains(errOut, "32 bytes") {
		t.Fatalf("rekey with a short key: exit %d, %s", code, errOut)
	}
	code, out, errOut = cli("operator", "rekey", "--new-key-file", good)
	if code != 0 || !strings.Contains(out, "provider file replaced") {
		t.Fatalf("rekey: exit %d\n%s%s", code, out, errOut)
	}
	if bytes.Equal(n.FSM().Seal().WrappedRoot["file"], before) {
		t.Fatal("the wrapped root key did not change")
	}
	if code, _, errOut = cli("operator", "rekey"); code != 2 || !strings.Contains(errOut, "--new-key-file") {
		t.Fatalf("rekey without a mode: exit %d, %s", code, errOut)
	}
	if code, _, errOut = cli("operator", "rekey", "--shares", "3", "--threshold", "2"); code != 1 || !strings.Contains(errOut, "KMSInvalidStateException") {
		t.Fatalf("a Shamir rekey of a file region: exit %d, %s", code, errOut)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if code, _, errOut = cli("operator", "rotate"); code != 1 || !strings.Contains(errOut, "Signature") {
		t.Fatalf("rotate with a wrong secret: exit %d, %s", code, errOut)
	}
}

var shareText = regexp.MustCompile(`Unseal share \d+: (\S+)`)

func TestOperatorRekeyShamir(t *testing.T) {
	out := &testnode.Buffer{}
	n := testnode.Start(t, func(c *node.Config) {
		c.Seal = node.SealConfig{Provider: "shamir", Shares: 3, Threshold: 2, Output: out}
	})
	var shares []string
	testnode.Eventually(t, 30*time.Second, "shares printed, node unsealed", func() bool {
		shares = shares[:0]
		for _, m := range shareText.FindAllStringSubmatch(out.String(), -1) {
			shares = append(shares, m[1])
		}
		return len(shares) == 3 && !n.Sealed()
	})
	operatorEnv(t, n)

	// One share per run (two operators), continued by nonce.
	dir := t.TempDir()
	s1, s3 := filepath.Join(dir, "s1"), filepath.Join(dir, "s3")
	writeFileT(t, s1, []byte(shares[0]))
	writeFileT(t, s3, []byte(shares[2]))
	code, o, e := cli("operator", "rekey", "--shares", "5", "--threshold", "4", "--share-file", s1)
	m := regexp.MustCompile(`continue with --nonce (\S+)`).FindStringSubmatch(o)
	if code != 0 || m == nil || !strings.Contains(o, "1/2") {
		t.Fatalf("rekey start: exit %d\n%s%s", code, o, e)
	}
	if code, o, _ = cli("operator", "rekey", "--status"); code != 0 || !strings.Contains(o, m[1]) || !strings.Contains(o, "1/2") {
		t.Fatalf("rekey --status: exit %d\n%s", code, o)
	}
	code, o, e = cli("operator", "rekey", "--nonce", m[1], "--share-file", s3)
	newShares := shareText.FindAllStringSubmatch(o, -1)
	if code != 0 || len(newShares) != 5 || !strings.Contains(o, "previous shares no longer open") {
		t.Fatalf("rekey complete: exit %d\n%s%s", code, o, e)
	}
	if p := n.FSM().Seal().Shamir; p == nil || p.Shares != 5 || p.Threshold != 4 {
		t.Fatalf("share set after the rekey: %+v", p)
	}

	// A rekey fed with shares on standard input, cancelled halfway.
	stdinReader = strings.NewReader(newShares[0][1] + "\n")
	t.Cleanup(func() { stdinReader = os.Stdin })
	if code, o, e = cli("operator", "rekey", "--shares", "3", "--threshold", "2"); code != 0 || !strings.Contains(o, "1/4") {
		t.Fatalf("rekey from stdin: exit %d\n%s%s", code, o, e)
	}
	if code, o, _ = cli("operator", "rekey", "--cancel"); code != 0 || !strings.Contains(o, "cancelled") {
		t.Fatalf("rekey --cancel: exit %d\n%s", code, o)
	}
	if code, o, _ = cli("operator", "rekey", "--status"); code != 0 || !strings.Contains(o, "no rekey") {
		t.Fatalf("rekey --status after cancel: exit %d\n%s", code, o)
	}
}

func writeFileT(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeShamir runs `kmsnode serve --seal shamir` as a process: the new
// region prints its shares and root credentials on standard output (never
// the log); after a restart the process says it is sealed, refuses crypto,
// and serves again once given a threshold of shares.
func TestServeShamir(t *testing.T) {
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t)
	endpoint := "http://" + addr
	args := []string{"serve", "--region", "ap-south-1", "--account-id", "123456789012",
		"--data-dir", filepath.Join(dir, "data"), "--api-addr", addr,
		"--seal", "shamir", "--seal-shares", "3", "--seal-threshold", "2"}
	p := runKmsnode(t, args...)
	testnode.Eventually(t, 60*time.Second, "serve prints shares and root credentials", func() bool {
		if p.exited() {
			t.Fatalf("serve exited:\n%s\n%s", p.stdout.String(), p.stderr.String())
		}
		return strings.Contains(p.stdout.String(), "AWS_SECRET_ACCESS_KEY=")
	})
	out := p.stdout.String()
	var shares []string
	for _, m := range shareText.FindAllStringSubmatch(out, -1) {
		shares = append(shares, m[1])
	}
	akid := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(out)
	if len(shares) != 3 || akid == nil || secret == nil {
		t.Fatalf("want 3 shares and root credentials:\n%s", out)
	}
	for _, s := range shares {
		if strings.Contains(p.stderr.String(), s) {
			t.Fatal("a share reached the log")
		}
	}
	root := testnode.NewClient(endpoint, "ap-south-1", akid[1], secret[1])
	k, err := root.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	mustOK(t, "CreateKey", err)
	enc, err := root.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("sealed at rest")})
	mustOK(t, "Encrypt", err)
	if ws := p.signal(syscall.SIGTERM); ws.ExitStatus() != 0 {
		t.Fatalf("serve exit %v", ws)
	}

	p2 := runKmsnode(t, args...)
	testnode.Eventually(t, 60*time.Second, "the restarted node says it is sealed", func() bool {
		if p2.exited() {
			t.Fatalf("serve exited:\n%s", p2.stderr.String())
		}
		return strings.Contains(p2.stdout.String(), "node is sealed")
	})
	if shareText.MatchString(p2.stdout.String()) || strings.Contains(p2.stdout.String(), "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("a restart printed secrets again:\n%s", p2.stdout.String())
	}
	_, err = root.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	testnode.WantErr(t, err, "KMSInternalException")
	if httpOK(endpoint + "/readyz") {
		t.Fatal("a sealed node is ready")
	}
	anon := opclient.New(endpoint, "", aws.Credentials{})
	for i, s := range shares[1:] {
		b, _ := base64.StdEncoding.DecodeString(s)
		var st struct{ Sealed bool }
		testnode.Eventually(t, 30*time.Second, "share accepted", func() bool {
			err := anon.Call(ctx(t), "Unseal", map[string]any{"Key": b}, &st)
			var ae *opclient.APIError
			if errors.As(err, &ae) && ae.Type == "DependencyTimeoutException" {
				return false
			}
			mustOK(t, "Unseal", err)
			return true
		})
		if st.Sealed != (i == 0) {
			t.Fatalf("after share %d: sealed=%v", i+1, st.Sealed)
		}
	}
	dec, err := root.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, "Decrypt after unseal", err)
	if string(dec.Plaintext) != "sealed at rest" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}
	testnode.Eventually(t, 30*time.Second, "/readyz after unseal", func() bool { return httpOK(endpoint + "/readyz") })
	if ws := p2.signal(syscall.SIGTERM); ws.ExitStatus() != 0 {
		t.Fatalf("serve exit %v", ws)
	}
	for _, s := range shares {
		b, _ := base64.StdEncoding.DecodeString(s)
		grepTree(t, filepath.Join(dir, "data"), s, string(b[3:]))
	}
}
