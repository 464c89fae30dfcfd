package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	regionA = "us-east-1"
	regionB = "eu-west-1"
)

type testCA struct{ cert, key []byte }

func newTestCA(t *testing.T, name string) testCA {
	t.Helper()
	c, k, err := GenerateCA(name, 24*time.Hour)
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	return testCA{c, k}
}

// issue returns a key pair for region/node signed by ca.
func (ca testCA) issue(t *testing.T, region, node string) tls.Certificate {
	t.Helper()
	c, k, err := IssueNodeCert(ca.cert, ca.key, Identity{region, node}, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatalf("IssueNodeCert(%s@%s): %v", node, region, err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return pair
}

func (ca testCA) creds(t *testing.T, region, node string) *Credentials {
	t.Helper()
	cr, err := NewCredentials(ca.cert, ca.issue(t, region, node))
	if err != nil {
		t.Fatalf("NewCredentials(%s@%s): %v", node, region, err)
	}
	return cr
}

func TestIssueNodeCertLoads(t *testing.T) {
	ca := newTestCA(t, "test region CA")
	caCert := parsePEMCert(t, ca.cert)
	if !caCert.IsCA || !caCert.MaxPathLenZero || caCert.MaxPathLen != 0 ||
		caCert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign || caCert.Subject.CommonName != "test region CA" {
		t.Errorf("CA certificate: IsCA=%v MaxPathLenZero=%v KeyUsage=%v CN=%q",
			caCert.IsCA, caCert.MaxPathLenZero, caCert.KeyUsage, caCert.Subject.CommonName)
	}
	if caCert.SerialNumber.Sign() <= 0 || caCert.SerialNumber.BitLen() > 128 {
		t.Errorf("CA serial %v: want a positive 128-bit number", caCert.SerialNumber)
	}
	if d := time.Until(caCert.NotBefore); d > -59*time.Minute || d < -61*time.Minute {
		t.Errorf("CA NotBefore is %v from now, want about -1h", d)
	}
	if err := caCert.CheckSignatureFrom(caCert); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}

	id := Identity{Region: regionA, NodeID: "node-1.a_b"}
	certPEM, keyPEM, err := IssueNodeCert(ca.cert, ca.key, id, []string{"127.0.0.1", "::1", "localhost", "n1.example.internal"}, time.Hour)
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM is not a PKCS #8 PRIVATE KEY block")
	} else if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		t.Fatalf("key: %v", err)
	} else if ek, ok := k.(*ecdsa.PrivateKey); !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want an ECDSA P-256 key", k)
	}
	leaf := parsePEMCert(t, certPEM)
	if leaf.IsCA || leaf.Subject.CommonName != id.NodeID || leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		!slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("leaf: IsCA=%v CN=%q KeyUsage=%v ExtKeyUsage=%v", leaf.IsCA, leaf.Subject.CommonName, leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP SANs %v", leaf.IPAddresses)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "n1.example.internal"}) {
		t.Errorf("DNS SANs %v", leaf.DNSNames)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "kmsnode://us-east-1/node/node-1.a_b" {
		t.Errorf("URI SANs %v", leaf.URIs)
	}
	if leaf.SerialNumber.Cmp(caCert.SerialNumber) == 0 {
		t.Errorf("leaf and CA share serial %v", leaf.SerialNumber)
	}

	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	cr, err := NewCredentials(ca.cert, pair)
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	if cr.Self != id {
		t.Errorf("Self = %v, want %v", cr.Self, id)
	}
	if got, err := IdentityOf(leaf); err != nil || got != id {
		t.Errorf("IdentityOf = %v, %v; want %v", got, err, id)
	}
}

func TestNewCredentialsRejectsForeignCA(t *testing.T) {
	ca1, ca2 := newTestCA(t, "CA one"), newTestCA(t, "CA two")
	if _, err := NewCredentials(ca1.cert, ca2.issue(t, regionA, "n1")); err == nil {
		t.Fatal("NewCredentials accepted a certificate issued by another CA")
	}
}

func TestIssueNodeCertRejects(t *testing.T) {
	ca, other := newTestCA(t, "CA"), newTestCA(t, "other CA")
	leaf, leafKey, err := IssueNodeCert(ca.cert, ca.key, Identity{regionA, "n1"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name             string
		caCert, caKey    []byte
		id               Identity
		hosts            []string
		validFor         time.Duration
		wantErrSubstring string
	}{
		{"empty region", ca.cert, ca.key, Identity{"", "n1"}, nil, time.Hour, "region"},
		{"upper-case region", ca.cert, ca.key, Identity{"US-EAST-1", "n1"}, nil, time.Hour, "region"},
		{"region with slash", ca.cert, ca.key, Identity{"us/east", "n1"}, nil, time.Hour, "region"},
		{"empty node ID", ca.cert, ca.key, Identity{regionA, ""}, nil, time.Hour, "node ID"},
		{"node ID with slash", ca.cert, ca.key, Identity{regionA, "a/b"}, nil, time.Hour, "node ID"},
		{"node ID ..", ca.cert, ca.key, Identity{regionA, ".."}, nil, time.Hour, "node ID"},
		{"node ID too long", ca.cert, ca.key, Identity{regionA, strings.Repeat("n", 65)}, nil, time.Hour, "node ID"},
		{"zero validity", ca.cert, ca.key, Identity{regionA, "n1"}, nil, 0, "validity"},
		{"outlives the CA", ca.cert, ca.key, Identity{regionA, "n1"}, nil, 48 * time.Hour, "outlive"},
		{"empty host", ca.cert, ca.key, Identity{regionA, "n1"}, []string{"127.0.0.1", " "}, time.Hour, "host"},
		{"key of another CA", ca.cert, other.key, Identity{regionA, "n1"}, nil, time.Hour, "does not match"},
		{"leaf as CA", leaf, leafKey, Identity{regionA, "n2"}, nil, time.Minute, "may not sign"},
		{"no CA certificate", nil, ca.key, Identity{regionA, "n1"}, nil, time.Hour, "PEM"},
		{"no CA key", ca.cert, []byte("junk"), Identity{regionA, "n1"}, nil, time.Hour, "PEM"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := IssueNodeCert(c.caCert, c.caKey, c.id, c.hosts, c.validFor)
			if err == nil || !strings.Contains(err.Error(), c.wantErrSubstring) {
				t.Fatalf("IssueNodeCert: err = %v, want one mentioning %q", err, c.wantErrSubstring)
			}
		})
	}
	if _, _, err := GenerateCA("", time.Hour); err == nil {
		t.Error("GenerateCA accepted an empty common name")
	}
	if _, _, err := GenerateCA("CA", -time.Hour); err == nil {
		t.Error("GenerateCA accepted a negative validity")
	}
}

func TestGenerateGossipKey(t *testing.T) {
	k1, err := GenerateGossipKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := GenerateGossipKey()
	b, err := base64.StdEncoding.DecodeString(k1)
	if err != nil || len(b) != 32 {
		t.Fatalf("gossip key %q: %d bytes, %v; want 32 bytes of standard base64", k1, len(b), err)
	}
	if k1 == k2 {
		t.Fatal("two gossip keys are equal")
	}
}

// TestClusterPort runs real transports on loopback with PKI-issued
// certificates.
func TestClusterPort(t *testing.T) {
	ca, foreign := newTestCA(t, "region CA"), newTestCA(t, "foreign CA")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t1 := listen(t, ca.creds(t, regionA, "n1"), nil)
	t2 := listen(t, ca.creds(t, regionA, "n2"), nil)
	serveWhoAmI(t, t1)
	serveWhoAmI(t, t2)

	t.Run("same region", func(t *testing.T) {
		if id, err := t1.PeerIdentity(ctx, t2.Addr(), "n2"); err != nil || id != (Identity{regionA, "n2"}) {
			t.Fatalf("t1 → t2: %v, %v", id, err)
		}
		if id, err := t2.PeerIdentity(ctx, t1.Addr(), ""); err != nil || id != (Identity{regionA, "n1"}) {
			t.Fatalf("t2 → t1: %v, %v", id, err)
		}
		if _, err := t1.PeerIdentity(ctx, t2.Addr(), "n3"); err == nil || !strings.Contains(err.Error(), `expected "n3"`) {
			t.Fatalf("t1 → t2 wanting n3: err = %v, want a refusal", err)
		}
	})

	t.Run("rpc", func(t *testing.T) {
		if got := rpcWhoAmI(t, t1, t2); got != "n1@"+regionA {
			t.Fatalf("t2 saw the caller as %q, want n1@%s", got, regionA)
		}
		if got := rpcWhoAmI(t, t2, t1); got != "n2@"+regionA {
			t.Fatalf("t1 saw the caller as %q, want n2@%s", got, regionA)
		}
	})

	t.Run("foreign CA", func(t *testing.T) {
		log := &syncBuffer{}
		srv := listen(t, ca.creds(t, regionA, "s"), log)
		intruder := listen(t, foreign.creds(t, regionA, "x"), nil)
		if _, err := intruder.PeerIdentity(ctx, srv.Addr(), ""); err == nil {
			t.Fatal("a node of another CA verified a node of the region")
		}
		waitLog(t, log, "cluster port refused a connection", "remote=127.0.0.1:")
	})

	t.Run("foreign CA trusting the region CA", func(t *testing.T) {
		// The intruder trusts the region CA, so only the server's own
		// verification stands between it and the cluster.
		log := &syncBuffer{}
		srv := listen(t, ca.creds(t, regionA, "s"), log)
		bundle := slices.Concat(foreign.cert, ca.cert)
		cr, err := NewCredentials(bundle, foreign.issue(t, regionA, "x"))
		if err != nil {
			t.Fatal(err)
		}
		intruder := listen(t, cr, nil)
		if resp, err := intruder.RPCClient().Get("https://" + srv.Addr() + "/x"); err == nil {
			resp.Body.Close()
			t.Fatalf("a node of another CA made an RPC: %s", resp.Status)
		}
		waitLog(t, log, "cluster port refused a connection", "certificate signed by unknown authority")
	})

	t.Run("other region", func(t *testing.T) {
		log := &syncBuffer{}
		srv := listen(t, ca.creds(t, regionA, "s"), log)
		stranger := listen(t, ca.creds(t, regionB, "y"), nil)
		if _, err := stranger.PeerIdentity(ctx, srv.Addr(), ""); err == nil {
			t.Fatal("a node of another region verified a node of the region")
		}
		waitLog(t, log, "cluster port refused a connection")

		// A client that skips its own checks is refused by the server.
		log2 := &syncBuffer{}
		srv2 := listen(t, ca.creds(t, regionA, "s2"), log2)
		c, err := tls.Dial("tcp", srv2.Addr(), &tls.Config{
			MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{ProtoRPC},
			Certificates: []tls.Certificate{ca.issue(t, regionB, "y")},
		})
		if err == nil {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("the server accepted a client of another region")
		}
		waitLog(t, log2, "cluster port refused a connection", `belongs to region \"eu-west-1\"`)
	})

	t.Run("isolate", func(t *testing.T) {
		t1.Isolate(true)
		if _, err := t1.PeerIdentity(ctx, t2.Addr(), "n2"); !errors.Is(err, ErrIsolated) {
			t.Fatalf("isolated t1 → t2: err = %v, want ErrIsolated", err)
		}
		if _, err := t2.PeerIdentity(ctx, t1.Addr(), "n1"); err == nil {
			t.Fatal("t2 → isolated t1 succeeded")
		}
		if _, err := t2.RPCClient().Get("https://" + t1.Addr() + "/x"); err == nil {
			t.Fatal("RPC to isolated t1 succeeded")
		}
		t1.Isolate(false)
		if _, err := t1.PeerIdentity(ctx, t2.Addr(), "n2"); err != nil {
			t.Fatalf("t1 → t2 after reconnecting: %v", err)
		}
		if _, err := t2.PeerIdentity(ctx, t1.Addr(), "n1"); err != nil {
			t.Fatalf("t2 → t1 after reconnecting: %v", err)
		}
		if got := rpcWhoAmI(t, t2, t1); got != "n2@"+regionA {
			t.Fatalf("RPC after reconnecting: %q", got)
		}
	})
}

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatal("not a PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listen starts a transport on a loopback port, closed with the test.
func listen(t *testing.T, cr *Credentials, log *syncBuffer) *Transport {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", Creds: cr}
	if log != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	tr, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

type connKey struct{}

// serveWhoAmI serves HTTP on the transport's RPC listener; every request is
// answered with the identity the caller's certificate proves.
func serveWhoAmI(t *testing.T, tr *Transport) {
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// r.TLS is nil: the server sees the transport's conn, not a *tls.Conn.
			c, _ := r.Context().Value(connKey{}).(net.Conn)
			id, ok := ConnIdentity(c)
			if !ok {
				http.Error(w, "not a verified cluster connection", http.StatusInternalServerError)
				return
			}
			io.WriteString(w, id.String())
		}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(tr.RPCListener())
	}()
	t.Cleanup(func() {
		srv.Close() // closes the RPC listener, not the transport
		<-done
		tr.Close()
	})
}

// rpcWhoAmI asks to, from from, who from is.
func rpcWhoAmI(t *testing.T, from, to *Transport) string {
	t.Helper()
	resp, err := from.RPCClient().Get("https://" + to.Addr() + "/x")
	if err != nil {
		t.Fatalf("RPC: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("RPC: %s %q %v", resp.Status, b, err)
	}
	return string(b)
}

// syncBuffer is a log sink safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitLog waits until one line of the log holds every substring.
func waitLog(t *testing.T, log *syncBuffer, substrings ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for line := range strings.Lines(log.String()) {
			if !slices.ContainsFunc(substrings, func(s string) bool { return !strings.Contains(line, s) }) {
				return
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no log line holds all of %q; log:\n%s", substrings, log.String())
		case <-tick.C:
		}
	}
}
