package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// testCA issues certificates with chosen serials and validity.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for 127.0.0.1 (server) or a
// client, with the given serial, valid until notAfter.
func (ca *testCA) issue(t testing.TB, serial int64, notAfter time.Time, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "kmsnode test"},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsNode starts a node serving HTTPS with the pair in dir (cert.pem,
// key.pem) and, if clientCA, requiring client certificates of client-ca.pem.
func tlsNode(t *testing.T, dir string, clientCA bool, logs io.Writer) *testnode.Node {
	t.Helper()
	return testnode.Start(t, func(c *node.Config) {
		c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if clientCA {
			c.TLSClientCAFile = filepath.Join(dir, "client-ca.pem")
		}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
}

// handshake connects with cfg and returns the server certificate's serial
// and the negotiated version.
func handshake(addr string, cfg *tls.Config) (serial int64, version uint16, err error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	cs := conn.ConnectionState()
	return cs.PeerCertificates[0].SerialNumber.Int64(), cs.Version, nil
}

func rootsOf(ca *testCA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// sdkClient is an SDK client over HTTPS trusting ca, presenting client if set.
func sdkClient(url string, ca *testCA, client *tls.Certificate) (*awskms.Client, *http.Transport) {
	cfg := &tls.Config{RootCAs: rootsOf(ca), MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	return awskms.New(awskms.Options{
		Region: testRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(node.DevAccessKeyID, node.DevSecretAccessKey, ""),
		HTTPClient:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
		Retryer:     aws.NopRetryer{},
	}), tr
}

func TestAPITLSReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, "API test CA")
	far := time.Now().Add(12 * time.Hour)
	cert1, key1 := ca.issue(t, 1001, far, x509.ExtKeyUsageServerAuth)
	writeFile(t, filepath.Join(dir, "cert.pem"), cert1)
	writeFile(t, filepath.Join(dir, "key.pem"), key1)
	var logs testnode.Buffer
	n := tlsNode(t, dir, false, &logs)
	if !strings.HasPrefix(n.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s, want https on loopback", n.URL())
	}
	addr := strings.TrimPrefix(n.URL(), "https://")
	roots := &tls.Config{RootCAs: rootsOf(ca)}

	// The SDK works over HTTPS, on HTTP/2 (the TLS config offers h2).
	c, tr := sdkClient(n.URL(), ca, nil)
	out, err := c.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	mustOK(t, "CreateKey over HTTPS", err)
	keyID := aws.ToString(out.KeyMetadata.KeyId)
	resp, err := (&http.Client{Transport: tr}).Get(n.URL() + "/healthz")
	mustOK(t, "GET /healthz", err)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("HTTPS answered over %s, want HTTP/2", resp.Proto)
	}

	// TLS 1.3 by default; TLS 1.2 only with an AEAD suite; 1.1 never.
	if serial, v, err := handshake(addr, roots); err != nil || serial != 1001 || v != tls.VersionTLS13 {
		t.Fatalf("handshake: serial %d, version %x, %v; want 1001 over TLS 1.3", serial, v, err)
	}
	tls12 := &tls.Config{RootCAs: rootsOf(ca), MaxVersion: tls.VersionTLS12}
	if _, v, err := handshake(addr, tls12); err != nil || v != tls.VersionTLS12 {
		t.Fatalf("TLS 1.2 client: version %x, %v", v, err)
	}
	cbc := &tls.Config{RootCAs: rootsOf(ca), MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}
	if _, _, err := handshake(addr, cbc); err == nil {
		t.Error("a TLS 1.2 client offering only CBC suites connected")
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		old := &tls.Config{RootCAs: rootsOf(ca), MinVersion: v, MaxVersion: v}
		if _, got, err := handshake(addr, old); err == nil || !strings.Contains(err.Error(), "protocol version not supported") {
			t.Errorf("a client limited to TLS version %x: negotiated %x, %v; want the version refused", v, got, err)
		}
	}

	// Replace the pair and reload: new connections see the new serial,
	// the SDK's open connection keeps working.
	cert2, key2 := ca.issue(t, 2002, far, x509.ExtKeyUsageServerAuth)
	writeFile(t, filepath.Join(dir, "cert.pem"), cert2)
	writeFile(t, filepath.Join(dir, "key.pem"), key2)
	mustOK(t, "ReloadTLS", n.ReloadTLS())
	if serial, _, err := handshake(addr, roots); err != nil || serial != 2002 {
		t.Fatalf("after reload: serial %d, %v; want 2002", serial, err)
	}
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	mustOK(t, "DescribeKey on the connection opened before the reload", err)
	if !strings.Contains(logs.String(), "API TLS certificate reloaded") || !strings.Contains(logs.String(), "serial=2002") {
		t.Errorf("the reload was not logged:\n%s", logs.String())
	}

	// Broken new pairs keep the current one serving, and the log says why.
	cert3, _ := ca.issue(t, 3003, far, x509.ExtKeyUsageServerAuth)
	expired, expiredKey := ca.issue(t, 4004, time.Now().Add(-time.Minute), x509.ExtKeyUsageServerAuth)
	broken := []struct {
		name      string
		cert, key []byte
		why       string
	}{
		{"key of another certificate", cert3, key2, "private key does not match public key"},
		{"garbage certificate", []byte("not a certificate"), key2, "failed to find any PEM data"},
		{"empty key file", cert2, nil, "failed to find any PEM data"},
		{"expired certificate", expired, expiredKey, "expired on"},
	}
	for _, b := range broken {
		writeFile(t, filepath.Join(dir, "cert.pem"), b.cert)
		writeFile(t, filepath.Join(dir, "key.pem"), b.key)
		err := n.ReloadTLS()
		if err == nil || !strings.Contains(err.Error(), b.why) {
			t.Errorf("%s: ReloadTLS = %v, want an error saying %q", b.name, err, b.why)
		}
		if serial, _, err := handshake(addr, roots); err != nil || serial != 2002 {
			t.Fatalf("%s: serving serial %d, %v; want 2002 still", b.name, serial, err)
		}
	}
	os.Remove(filepath.Join(dir, "cert.pem"))
	if err := n.ReloadTLS(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing certificate file: ReloadTLS = %v", err)
	}
	if got := strings.Count(logs.String(), "API TLS reload failed; still serving the previous certificate"); got != len(broken)+1 {
		t.Errorf("%d failed reloads logged, want %d:\n%s", got, len(broken)+1, logs.String())
	}
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	mustOK(t, "DescribeKey after the failed reloads", err)
	fresh, _ := sdkClient(n.URL(), ca, nil)
	_, err = fresh.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	mustOK(t, "DescribeKey on a new connection after the failed reloads", err)
}

func TestAPITLSClientCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, clients, other := newTestCA(t, "API CA"), newTestCA(t, "client CA"), newTestCA(t, "other client CA")
	certPEM, keyPEM := ca.issue(t, 10, time.Now().Add(12*time.Hour), x509.ExtKeyUsageServerAuth)
	writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
	writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
	writeFile(t, filepath.Join(dir, "client-ca.pem"), clients.pem)
	n := tlsNode(t, dir, true, io.Discard)

	pair := func(ca *testCA) *tls.Certificate {
		c, k := ca.issue(t, 77, time.Now().Add(12*time.Hour), x509.ExtKeyUsageClientAuth)
		p, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	good, foreign := pair(clients), pair(other)
	call := func(client *tls.Certificate) error {
		c, _ := sdkClient(n.URL(), ca, client)
		_, err := c.ListKeys(ctx(t), &awskms.ListKeysInput{})
		return err
	}
	mustOK(t, "ListKeys with a client certificate", call(good))
	if err := call(nil); err == nil {
		t.Error("a client without a certificate was served")
	}
	if err := call(foreign); err == nil {
		t.Error("a client certificate of another CA was accepted")
	}

	// Reload with the other CA: it now decides.
	writeFile(t, filepath.Join(dir, "client-ca.pem"), other.pem)
	mustOK(t, "ReloadTLS", n.ReloadTLS())
	mustOK(t, "ListKeys with a certificate of the new client CA", call(foreign))
	if err := call(good); err == nil {
		t.Error("a certificate of the replaced client CA is still accepted")
	}
	// A client CA file without a certificate is refused; the current one stays.
	writeFile(t, filepath.Join(dir, "client-ca.pem"), []byte("no PEM here"))
	if err := n.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad client CA file: ReloadTLS = %v", err)
	}
	mustOK(t, "ListKeys after a refused client CA reload", call(foreign))
}

func TestAPITLSConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := newTestCA(t, "CA")
	certPEM, keyPEM := ca.issue(t, 5, time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth)
	expired, expiredKey := ca.issue(t, 6, time.Now().Add(-time.Hour), x509.ExtKeyUsageServerAuth)
	for name, b := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM, "expired.pem": expired, "expired-key.pem": expiredKey} {
		writeFile(t, filepath.Join(dir, name), b)
	}
	cases := []struct {
		name string
		set  func(*node.Config)
		want string
	}{
		{"client CA without TLS", func(c *node.Config) { c.TLSClientCAFile = filepath.Join(dir, "cert.pem") }, "client CA file needs the API served over TLS"},
		{"certificate without key", func(c *node.Config) { c.TLSCertFile = filepath.Join(dir, "cert.pem") }, "both a certificate and a key"},
		{"missing certificate", func(c *node.Config) {
			c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "none.pem"), filepath.Join(dir, "key.pem")
		}, "no such file"},
		{"expired certificate", func(c *node.Config) {
			c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "expired.pem"), filepath.Join(dir, "expired-key.pem")
		}, "expired on"},
		{"unreadable client CA", func(c *node.Config) {
			c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			c.TLSClientCAFile = filepath.Join(dir, "none.pem")
		}, "client CA file"},
		{"negative rate limit", func(c *node.Config) { c.RateLimit = -1 }, "rate limit"},
		{"negative burst", func(c *node.Config) { c.RateLimit, c.RateBurst = 1, -1 }, "rate limit"},
	}
	for _, tc := range cases {
		cfg := node.DefaultConfig(t.TempDir())
		cfg.APIAddr = "127.0.0.1:0"
		cfg.StartTimeout = 30 * time.Second
		tc.set(&cfg)
		n, err := node.Start(context.Background(), cfg)
		if err == nil {
			n.Close()
			t.Errorf("%s: the node started", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
	}
	// A plain-HTTP node has nothing to reload, and says so.
	n := testnode.Start(t)
	if err := n.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "not served over TLS") {
		t.Errorf("ReloadTLS on plain HTTP = %v", err)
	}
}
