package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// TestServeCreatesRootIdentityOnce: a new region's first `kmsnode serve`
// without an operator credential prints the account root's access key once;
// it works (it creates identities and keys), and a restart prints nothing.
func TestServeCreatesRootIdentityOnce(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "unseal.key")
	mustOK(t, "write unseal key", os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o400))
	addr := "127.0.0.1:" + freePort(t)
	endpoint := "http://" + addr
	args := []string{"serve", "--region", "ap-south-1", "--account-id", "123456789012",
		"--data-dir", filepath.Join(dir, "data"), "--api-addr", addr, "--seal", "file", "--seal-key-file", keyFile}

	p := runKmsnode(t, args...)
	testnode.Eventually(t, 60*time.Second, "serve prints the root credentials", func() bool {
		if p.exited() {
			t.Fatalf("serve exited:\n%s\n%s", p.stdout.String(), p.stderr.String())
		}
		return strings.Contains(p.stdout.String(), "AWS_SECRET_ACCESS_KEY=")
	})
	out := p.stdout.String()
	akid := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(out)
	if akid == nil || secret == nil || !strings.Contains(out, "arn:aws:iam::123456789012:root") {
		t.Fatalf("no root credentials in:\n%s", out)
	}
	if strings.Contains(p.stderr.String(), secret[1]) {
		t.Fatal("the root secret reached the log")
	}
	root := testnode.NewClient(endpoint, "ap-south-1", akid[1], secret[1])
	k, err := root.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	mustOK(t, "root CreateKey", err)
	var created struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	mustOK(t, "root CreateIdentity", testnode.OperatorCall(ctx(t), endpoint, "ap-south-1", akid[1], secret[1], "CreateIdentity",
		map[string]any{"Identity": "app", "PolicyName": "use", "PolicyDocument": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`}, &created))
	app := testnode.NewClient(endpoint, "ap-south-1", created.AccessKey.AccessKeyId, created.AccessKey.SecretAccessKey)
	_, err = app.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
	mustOK(t, "app Encrypt", err)
	// Nothing on disk holds a secret access key in the clear.
	grepTree(t, filepath.Join(dir, "data"), secret[1], created.AccessKey.SecretAccessKey)

	if ws := p.signal(syscall.SIGTERM); ws.ExitStatus() != 0 {
		t.Fatalf("serve exit %v", ws)
	}
	p2 := runKmsnode(t, args...)
	testnode.Eventually(t, 60*time.Second, "serve restarts", func() bool {
		if p2.exited() {
			t.Fatalf("serve exited:\n%s", p2.stderr.String())
		}
		return strings.Contains(p2.stdout.String(), "kmsnode serving")
	})
	_, err = root.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
	mustOK(t, "root after restart", err)
	_, err = app.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
	mustOK(t, "app after restart", err)
	if strings.Contains(p2.stdout.String(), "AWS_SECRET_ACCESS_KEY") {
		t.Fatal("a restart printed root credentials again")
	}
}

// grepTree fails if any file under dir contains one of the secrets.
func grepTree(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	n := 0
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		for _, s := range secrets {
			if strings.Contains(string(b), s) || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte(s))) {
				t.Errorf("%s holds a secret in the clear", path)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walk %s: %v (%d files)", dir, err, n)
	}
}
