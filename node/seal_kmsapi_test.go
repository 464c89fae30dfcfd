package node_test

// seal=kmsapi: node B's root key is wrapped by a key of node A, another
// region reached over the AWS KMS API. These tests start both as real
// in-process nodes and drive them with the AWS SDK.

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const regionB = "eu-west-1"

// kmsapiConfig is node B's configuration: unsealed by keyID at a.
func kmsapiConfig(dir string, a *testnode.Node, keyID string) node.Config {
	cfg := testConfig(dir)
	cfg.Region = regionB
	cfg.Seal = node.SealConfig{Provider: "kmsapi", KMSAPI: node.KMSAPISealConfig{
		Endpoint: a.URL(), Region: a.Config.Region, KeyID: keyID,
		AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey,
	}}
	return cfg
}

// startB starts node B and returns it with a client, closing it at test end.
func startB(t *testing.T, cfg node.Config) (*node.Node, *awskms.Client) {
	t.Helper()
	n, err := node.Start(context.Background(), cfg)
	mustOK(t, "start node B (seal=kmsapi)", err)
	t.Cleanup(func() { n.Close() })
	return n, testnode.NewClient(n.URL(), cfg.Region, node.DevAccessKeyID, node.DevSecretAccessKey)
}

// rootContext is the encryption context B binds its wrapped root key to.
func rootContext(region string) map[string]string {
	return map[string]string{
		"kmsnode:purpose": "root-key",
		"kmsnode:aad":     base64.StdEncoding.EncodeToString(crypto.RootAAD(region, "kmsapi")),
	}
}

// wantStartErr starts a node that must fail and checks every part of the
// message.
func wantStartErr(t *testing.T, cfg node.Config, parts ...string) {
	t.Helper()
	n, err := node.Start(context.Background(), cfg)
	if err == nil {
		n.Close()
		t.Fatalf("node started; want an error naming %q", parts)
	}
	t.Logf("start error: %v", err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("start error %q does not name %q", err, p)
		}
	}
}

func TestKMSAPISealRestartAndRefusal(t *testing.T) {
	a := start(t)
	keyA := newKey(t, a.Client, &awskms.CreateKeyInput{Description: aws.String("unseals region " + regionB)})
	dirB := t.TempDir()
	cfg := kmsapiConfig(dirB, a, keyA)

	b, cb := startB(t, cfg)
	var cts []sealed
	for i := range 3 {
		id := newKey(t, cb, nil)
		cts = append(cts, encrypt(t, cb, "before restart "+string(rune('a'+i)), id, id, map[string]string{"k": "v"}))
	}

	// B's FSM holds only A's CiphertextBlob of the root key; A opens it
	// with B's context (and only with it) into the root that matches B's
	// check value.
	seal := b.FSM().Seal()
	if seal == nil || len(seal.WrappedRoot) != 1 || seal.WrappedRoot["kmsapi"] == nil {
		t.Fatalf("wrapped root keys: want only kmsapi, got %v", seal)
	}
	blob := seal.WrappedRoot["kmsapi"]
	out, err := a.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, KeyId: &keyA, EncryptionContext: rootContext(regionB)})
	mustOK(t, "Decrypt B's wrapped root key at A", err)
	root := out.Plaintext
	if !crypto.VerifyRootCheck(root, seal.RootCheck) {
		t.Fatal("A's plaintext of the wrapped root is not B's root key")
	}
	_, err = a.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, KeyId: &keyA, EncryptionContext: rootContext("us-west-2")})
	wantErr(t, err, "InvalidCiphertextException")
	_, err = a.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, KeyId: &keyA})
	wantErr(t, err, "InvalidCiphertextException")
	mustOK(t, "close B", b.Close())

	// Nothing of the root key, and no unseal key, in B's data directory.
	if _, err := os.Stat(filepath.Join(dirB, "unseal.key")); !os.IsNotExist(err) {
		t.Fatalf("B's data directory has an unseal.key (%v)", err)
	}
	findSecrets(t, dataFiles(t, dirB), []secret{{"root key", root}}, nil)
	crypto.Zero(root)

	// Restart, this time with the credentials from a shared-credentials
	// file: everything decrypts, and new keys work.
	credFile := filepath.Join(t.TempDir(), "credentials")
	mustOK(t, "write credentials", os.WriteFile(credFile, []byte("# for kmsnode\n[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other\n\n[default]\naws_access_key_id = "+node.DevAccessKeyID+"\naws_secret_access_key = "+node.DevSecretAccessKey+"\nregion = us-east-1\n"), 0o600))
	cfg2 := cfg
	cfg2.Seal.KMSAPI.AccessKeyID, cfg2.Seal.KMSAPI.SecretAccessKey = "", ""
	cfg2.Seal.KMSAPI.CredentialsFile = credFile
	b, cb = startB(t, cfg2)
	for _, s := range cts {
		mustDecrypt(t, cb, s)
	}
	id := newKey(t, cb, nil)
	mustDecrypt(t, cb, encrypt(t, cb, "after restart", id, id, nil))
	mustOK(t, "close B", b.Close())

	// A refuses: B cannot start, and says where and why.
	_, err = a.Client.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &keyA})
	mustOK(t, "DisableKey at A", err)
	wantStartErr(t, cfg, "Decrypt", a.URL(), keyA, "DisabledException")

	// A pinned key that is not the one that wrapped the root: A refuses
	// to decrypt under another key even for the same caller.
	other := newKey(t, a.Client, nil)
	pinned := cfg
	pinned.Seal.KMSAPI.KeyID = other
	wantStartErr(t, pinned, "Decrypt", a.URL(), other, "IncorrectKeyException")

	// Credentials A does not know.
	bad := cfg
	bad.Seal.KMSAPI.SecretAccessKey = "not-the-secret"
	wantStartErr(t, bad, "Decrypt", a.URL())

	// Once A allows it again, B starts from the same blob.
	_, err = a.Client.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &keyA})
	mustOK(t, "EnableKey at A", err)
	_, cb = startB(t, cfg)
	for _, s := range cts {
		mustDecrypt(t, cb, s)
	}
}

// The standard AWS variables work when no other credentials are given; the
// secret ones are cleared from the environment once read.
func TestKMSAPISealEnvCredentials(t *testing.T) {
	a := start(t)
	keyA := newKey(t, a.Client, nil)
	cfg := kmsapiConfig(t.TempDir(), a, keyA)
	cfg.Seal.KMSAPI.AccessKeyID, cfg.Seal.KMSAPI.SecretAccessKey = "", ""
	t.Setenv("AWS_ACCESS_KEY_ID", node.DevAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", node.DevSecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	_, cb := startB(t, cfg)
	id := newKey(t, cb, nil)
	mustDecrypt(t, cb, encrypt(t, cb, "env credentials", id, id, nil))
	if v, ok := os.LookupEnv("AWS_SECRET_ACCESS_KEY"); ok {
		t.Fatalf("AWS_SECRET_ACCESS_KEY is still set (%d bytes)", len(v))
	}
	// Without them, the start fails before any call and says what to give.
	wantStartErr(t, kmsapiConfigNoCreds(t, a, keyA), "no credentials", "--seal-kmsapi-credentials-file", "AWS_SECRET_ACCESS_KEY")
}

func kmsapiConfigNoCreds(t *testing.T, a *testnode.Node, keyID string) node.Config {
	cfg := kmsapiConfig(t.TempDir(), a, keyID)
	cfg.Seal.KMSAPI.AccessKeyID, cfg.Seal.KMSAPI.SecretAccessKey = "", ""
	return cfg
}

// Over HTTPS, B trusts A's private CA from --seal-kmsapi-ca-file, and only
// then (the TLS helpers are tls_test.go's).
func TestKMSAPISealOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, "region A CA")
	cert, key := ca.issue(t, 2, time.Now().Add(24*time.Hour), x509.ExtKeyUsageServerAuth)
	writeFile(t, filepath.Join(dir, "cert.pem"), cert)
	writeFile(t, filepath.Join(dir, "key.pem"), key)
	writeFile(t, filepath.Join(dir, "ca.pem"), ca.pem)
	a := tlsNode(t, dir, false, io.Discard)
	ca1, _ := sdkClient(a.URL(), ca, nil)
	keyA := newKey(t, ca1, nil)
	cfg := kmsapiConfig(t.TempDir(), a, keyA)
	if !strings.HasPrefix(cfg.Seal.KMSAPI.Endpoint, "https://") {
		t.Fatalf("A serves %s, want https", cfg.Seal.KMSAPI.Endpoint)
	}
	// The system roots do not know A's CA: the first start fails, naming A.
	wantStartErr(t, cfg, "Encrypt", a.URL(), "certificate")
	// With the CA the same data directory starts, and restarts.
	cfg.Seal.KMSAPI.CAFile = filepath.Join(dir, "ca.pem")
	b, cb := startB(t, cfg)
	id := newKey(t, cb, nil)
	s := encrypt(t, cb, "over TLS", id, id, nil)
	mustOK(t, "close B", b.Close())
	_, cb = startB(t, cfg)
	mustDecrypt(t, cb, s)
}

// Bad settings fail the start with a message naming the setting; none of
// these reach the network.
func TestKMSAPISealConfigErrors(t *testing.T) {
	t.Parallel()
	base := func() node.Config {
		cfg := testConfig(t.TempDir())
		cfg.Seal = node.SealConfig{Provider: "kmsapi", KMSAPI: node.KMSAPISealConfig{
			Endpoint: "https://kms.example.test", Region: "us-east-1", KeyID: "alias/region-root",
			AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret",
		}}
		return cfg
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	mustOK(t, "write CA", os.WriteFile(caFile, []byte("not a certificate\n"), 0o600))
	for _, tc := range []struct {
		name   string
		change func(*node.KMSAPISealConfig)
		want   []string
	}{
		{"no region", func(k *node.KMSAPISealConfig) { k.Region = "" }, []string{"--seal-kmsapi-region"}},
		{"no key", func(k *node.KMSAPISealConfig) { k.KeyID = "" }, []string{"--seal-kmsapi-key-id"}},
		{"half credentials", func(k *node.KMSAPISealConfig) { k.SecretAccessKey = "" }, []string{"access key ID and a secret"}},
		{"plain http off loopback", func(k *node.KMSAPISealConfig) { k.Endpoint = "http://kms.example.test:8080" }, []string{"plain HTTP", "http://kms.example.test:8080"}},
		{"not a URL", func(k *node.KMSAPISealConfig) { k.Endpoint = "kms.example.test" }, []string{"no host"}},
		{"other scheme", func(k *node.KMSAPISealConfig) { k.Endpoint = "ftp://kms.example.test" }, []string{"https URL"}},
		{"user in URL", func(k *node.KMSAPISealConfig) { k.Endpoint = "https://u:p@kms.example.test" }, []string{"without user"}},
		{"missing CA file", func(k *node.KMSAPISealConfig) { k.CAFile = caFile + ".missing" }, []string{"CA file"}},
		{"CA file without PEM", func(k *node.KMSAPISealConfig) { k.CAFile = caFile }, []string{"no PEM certificate"}},
		{"missing credentials file", func(k *node.KMSAPISealConfig) {
			k.AccessKeyID, k.SecretAccessKey, k.CredentialsFile = "", "", caFile+".missing"
		}, []string{"read credentials"}},
		{"credentials file without default", func(k *node.KMSAPISealConfig) {
			k.AccessKeyID, k.SecretAccessKey, k.CredentialsFile = "", "", caFile
		}, []string{caFile, "line 1"}},
	} {
		cfg := base()
		tc.change(&cfg.Seal.KMSAPI)
		t.Run(tc.name, func(t *testing.T) { wantStartErr(t, cfg, tc.want...) })
	}
}

// An endpoint that does not answer fails the start after bounded retries,
// naming it.
func TestKMSAPISealUnreachable(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t.TempDir())
	cfg.Seal = node.SealConfig{Provider: "kmsapi", KMSAPI: node.KMSAPISealConfig{
		Endpoint: "http://127.0.0.1:1", Region: "us-east-1", KeyID: "alias/root",
		AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret",
	}}
	wantStartErr(t, cfg, "Encrypt", "http://127.0.0.1:1", "alias/root")
}
