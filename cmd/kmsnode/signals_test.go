package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// serialOf returns the serial number of a PEM certificate file.
func serialOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	mustOK(t, "read certificate", err)
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	mustOK(t, "parse certificate", err)
	return c.SerialNumber.String()
}

// servedSerial connects to addr and returns the serial of the certificate
// it presents ("" if the handshake fails).
func servedSerial(addr string, roots *x509.CertPool) string {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	mustOK(t, "read "+from, err)
	// Write a new file and rename it over the old, as certificate tools
	// do, so the node never reads a half-written file.
	tmp := to + ".new"
	mustOK(t, "write "+tmp, os.WriteFile(tmp, b, 0o600))
	mustOK(t, "rename "+tmp, os.Rename(tmp, to))
}

// A real `kmsnode serve` process reloads its API certificate on SIGHUP:
// new connections get the new certificate, a broken pair keeps the old one
// serving (and the log says why), and the process stays up throughout.
func TestServeReloadsTLSOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caDir, certDir, live := filepath.Join(dir, "ca"), filepath.Join(dir, "certs"), filepath.Join(dir, "live")
	operatorOK(t, "operator", "tls", "ca", "--out", caDir)
	for _, id := range []string{"api1", "api2"} {
		operatorOK(t, "operator", "tls", "node", "--ca-dir", caDir, "--out", certDir,
			"--region", "us-east-1", "--node-id", id, "--host", "127.0.0.1")
	}
	mustOK(t, "mkdir", os.MkdirAll(live, 0o700))
	liveCert, liveKey := filepath.Join(live, "cert.pem"), filepath.Join(live, "key.pem")
	copyFile(t, filepath.Join(certDir, "api1.pem"), liveCert)
	copyFile(t, filepath.Join(certDir, "api1-key.pem"), liveKey)
	serial1, serial2 := serialOf(t, filepath.Join(certDir, "api1.pem")), serialOf(t, filepath.Join(certDir, "api2.pem"))

	unseal, secret := filepath.Join(dir, "unseal.key"), filepath.Join(dir, "secret")
	mustOK(t, "write unseal key", os.WriteFile(unseal, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600))
	mustOK(t, "write secret", os.WriteFile(secret, []byte(node.DevSecretAccessKey), 0o600))
	addr := "127.0.0.1:" + freePort(t)
	p := runKmsnode(t, "serve", "--region", "us-east-1", "--account-id", node.DevAccountID,
		"--data-dir", filepath.Join(dir, "data"), "--api-addr", addr,
		"--tls-cert-file", liveCert, "--tls-key-file", liveKey,
		"--access-key-id", node.DevAccessKeyID, "--secret-access-key-file", secret,
		"--seal", "file", "--seal-key-file", unseal)
	testnode.Eventually(t, 60*time.Second, "kmsnode serve prints its banner", func() bool {
		if p.exited() {
			t.Fatalf("kmsnode serve exited (%v)", p.state)
		}
		return strings.Contains(p.stdout.String(), "kmsnode serving https://"+addr)
	})

	caPEM, err := os.ReadFile(filepath.Join(caDir, "ca.pem"))
	mustOK(t, "read CA", err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if got := servedSerial(addr, roots); got != serial1 {
		t.Fatalf("serving serial %q, want %s", got, serial1)
	}
	c := awskms.New(awskms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("https://" + addr),
		Credentials: credentials.NewStaticCredentialsProvider(node.DevAccessKeyID, node.DevSecretAccessKey, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}},
		Retryer:     aws.NopRetryer{},
	})
	keyID := createKey(t, c, &awskms.CreateKeyInput{})

	// Renew: write the new pair, signal, and new connections see it.
	copyFile(t, filepath.Join(certDir, "api2.pem"), liveCert)
	copyFile(t, filepath.Join(certDir, "api2-key.pem"), liveKey)
	mustOK(t, "SIGHUP", p.cmd.Process.Signal(syscall.SIGHUP))
	testnode.Eventually(t, 30*time.Second, "the new certificate served", func() bool {
		if p.exited() {
			t.Fatalf("SIGHUP stopped kmsnode serve (%v)", p.state)
		}
		return servedSerial(addr, roots) == serial2
	})
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	mustOK(t, "DescribeKey after the reload", err)

	// A broken pair (certificate of api1, key of api2) is refused: api2's
	// certificate keeps serving and the log says why.
	copyFile(t, filepath.Join(certDir, "api1.pem"), liveCert)
	mustOK(t, "SIGHUP", p.cmd.Process.Signal(syscall.SIGHUP))
	testnode.Eventually(t, 30*time.Second, "the failed reload logged", func() bool {
		return strings.Contains(p.stderr.String(), "API TLS reload failed; still serving the previous certificate")
	})
	if !strings.Contains(p.stderr.String(), "private key does not match public key") {
		t.Errorf("the log does not say why the reload failed:\n%s", p.stderr.String())
	}
	if got := servedSerial(addr, roots); got != serial2 || p.exited() {
		t.Fatalf("after a broken pair: serving %q (exited %v), want %s", got, p.exited(), serial2)
	}
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	mustOK(t, "DescribeKey after the refused reload", err)

	if ws := p.signal(syscall.SIGTERM); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("SIGTERM: %v, want exit 0", ws)
	}
	for _, secretText := range []string{node.DevSecretAccessKey, "PRIVATE KEY"} {
		if strings.Contains(p.stderr.String(), secretText) || strings.Contains(p.stdout.String(), secretText) {
			t.Errorf("the output contains %q", secretText)
		}
	}
}
