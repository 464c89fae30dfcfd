package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsnode/kmsnode/internal/testcluster"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// tlsAPI serves each test node's API over HTTPS with its cluster
// certificate (issued for 127.0.0.1 by the region's CA), as a deployment does.
func tlsAPI(c *node.Config) {
	c.TLSCertFile, c.TLSKeyFile = c.Cluster.CertFile, c.Cluster.KeyFile
}

// tlsClient is an SDK client of endpoint that trusts caFile; retries is the
// SDK's attempt count (1: exactly one request per call).
func tlsClient(t *testing.T, endpoint, region, caFile string, attempts int, keepAlive bool) *awskms.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: !keepAlive}
	t.Cleanup(tr.CloseIdleConnections)
	return awskms.New(awskms.Options{
		Region:           region,
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(node.DevAccessKeyID, node.DevSecretAccessKey, ""),
		HTTPClient:       &http.Client{Transport: tr, Timeout: 20 * time.Second},
		RetryMaxAttempts: attempts,
	})
}

func hostPort(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

func encryptVia(c *awskms.Client, key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("lb test")})
	return err
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// `kmsctl lb` in front of a real 3-node region over HTTPS: it spreads new
// connections over the ready nodes, stops sending to a node cut off from its
// peers and closes the connections it held to it, falls back to nodes that
// merely answer when none is ready (so clients get the node's retryable
// 503, not a refused connection), and takes a node back once it is ready.
// `kmsctl health` is checked on the same nodes.
func TestLoadBalancerRegion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node region")
	}
	r := testcluster.Start(t, 3, tlsAPI)
	region := r.Nodes[0].Config.Region
	ca := r.Nodes[0].Config.Cluster.CAFile
	var addrs []string
	for _, n := range r.Nodes {
		addrs = append(addrs, hostPort(t, n.URL()))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	check, err := probeClient(ca, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b := newBalancer(addrs, check, "https", 100*time.Millisecond, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("lb serve: %v", err)
		}
	})
	lb := "https://" + ln.Addr().String()
	byAddr := map[string]*backend{}
	for _, be := range b.backends {
		byAddr[be.addr] = be
	}
	state := func(n *testcluster.Node) int32 { return byAddr[hostPort(t, n.URL())].state.Load() }
	testnode.Eventually(t, 30*time.Second, "every backend ready", func() bool {
		for _, n := range r.Nodes {
			if state(n) != backendReady {
				return false
			}
		}
		return true
	})

	// A fresh connection per call: round robin spreads them.
	fresh := tlsClient(t, lb, region, ca, 1, false)
	out, err := fresh.CreateKey(testnode.Ctx(t), &awskms.CreateKeyInput{})
	testnode.MustOK(t, "CreateKey through the lb", err)
	key := *out.KeyMetadata.KeyId
	for i := range 30 {
		if err := encryptVia(fresh, key); err != nil {
			t.Fatalf("encrypt %d through the lb: %v", i, err)
		}
	}

	for _, n := range r.Nodes {
		code, stdout, stderr := runCLI("health", "--ca-file", ca, n.URL())
		if code != 0 || !strings.Contains(stdout, "/readyz: ready") {
			t.Fatalf("kmsctl health %s: exit %d, stdout %q, stderr %q", n.URL(), code, stdout, stderr)
		}
	}
	if code, _, stderr := runCLI("health", r.Nodes[0].URL()); code != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("kmsctl health without the region CA: exit %d, stderr %q; want 1 and a certificate error", code, stderr)
	}

	// A kept-alive client: find the node its connection went to, cut that
	// node off, and check that the lb drops the connection and routes the
	// client's next calls to the others.
	kept := tlsClient(t, lb, region, ca, 3, true)
	if err := encryptVia(kept, key); err != nil {
		t.Fatalf("encrypt through the lb: %v", err)
	}
	var pinned *testcluster.Node
	for _, n := range r.Nodes {
		be := byAddr[hostPort(t, n.URL())]
		be.mu.Lock()
		if len(be.conns) > 0 {
			pinned = n
		}
		be.mu.Unlock()
	}
	if pinned == nil {
		t.Fatal("the kept-alive connection is not held by any backend")
	}
	pinned.Isolate(true)
	testnode.Eventually(t, 30*time.Second, "the lb sees the cut-off node not ready", func() bool { return state(pinned) != backendReady })
	be := byAddr[hostPort(t, pinned.URL())]
	testnode.Eventually(t, 10*time.Second, "the lb closes its connections to the cut-off node", func() bool {
		be.mu.Lock()
		defer be.mu.Unlock()
		return len(be.conns) == 0
	})
	code, _, stderr := runCLI("health", "--ca-file", ca, pinned.URL())
	if code != 1 || !strings.Contains(stderr, "/readyz: 503") {
		t.Errorf("kmsctl health of the cut-off node: exit %d, stderr %q; want 1 and its 503", code, stderr)
	}
	if code, stdout, stderr := runCLI("health", "--live", "--ca-file", ca, pinned.URL()); code != 0 || !strings.Contains(stdout, "/healthz: alive") {
		t.Errorf("kmsctl health --live of the cut-off node: exit %d, stdout %q, stderr %q; want 0, alive", code, stdout, stderr)
	}
	// The majority elects a leader (if the cut node led) and serves again.
	testnode.Eventually(t, 30*time.Second, "two ready backends", func() bool {
		ready := 0
		for _, n := range r.Nodes {
			if state(n) == backendReady {
				ready++
			}
		}
		return ready == 2
	})
	for i := range 30 {
		if err := encryptVia(kept, key); err != nil {
			t.Fatalf("encrypt %d through the lb with one node cut off: %v", i, err)
		}
		if err := encryptVia(fresh, key); err != nil {
			t.Fatalf("encrypt %d through the lb on a new connection with one node cut off: %v", i, err)
		}
	}

	// Stop a second node: no quorum, no node is ready; the lb still hands
	// connections to the nodes that answer, which refuse with a retryable
	// DependencyTimeoutException.
	var stopped *testcluster.Node
	for _, n := range r.Nodes {
		if n != pinned {
			stopped = n
			break
		}
	}
	stopped.Stop()
	testnode.Eventually(t, 30*time.Second, "no backend ready", func() bool {
		for _, n := range r.Nodes {
			if n.Node != nil && state(n) == backendReady {
				return false
			}
		}
		return true
	})
	err = encryptVia(fresh, key)
	if c := apiCode(err); c != "DependencyTimeoutException" {
		t.Errorf("encrypt through the lb with no quorum: %v; want DependencyTimeoutException from a node", err)
	}

	// Heal the cut: the two running nodes form a majority again and the
	// lb takes them back.
	pinned.Isolate(false)
	testnode.Eventually(t, 60*time.Second, "the healed node ready in the lb", func() bool { return state(pinned) == backendReady })
	if err := encryptVia(fresh, key); err != nil {
		t.Fatalf("encrypt through the lb after healing: %v", err)
	}
}

func TestHealthCommand(t *testing.T) {
	t.Parallel()
	ready := serve(t, &fakeNode{health: 200, ready: 200})
	notReady := serve(t, &fakeNode{health: 200, ready: 503, readyBody: "not ready: cluster: no read lease\nsecond line\n"})
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"ready", []string{"health", ready}, 0, ready + "/readyz: ready\n", ""},
		{"trailing slash", []string{"health", ready + "/"}, 0, ready + "/readyz: ready\n", ""},
		{"live", []string{"health", "--live", ready}, 0, ready + "/healthz: alive\n", ""},
		{"not ready", []string{"health", notReady}, 1, "", notReady + "/readyz: 503 not ready: cluster: no read lease\n"},
		{"not ready but alive", []string{"health", notReady, "--live"}, 0, "alive", ""},
		{"unreachable", []string{"health", "--timeout", "2s", unreachable(t)}, 1, "", "connection refused"},
		{"two endpoints", []string{"health", ready, ready}, 2, "", "unexpected argument"},
		{"bad ca file", []string{"health", "--ca-file", "/nonexistent/ca.pem", ready}, 1, "", "nonexistent"},
		{"bad flag", []string{"health", "--frob"}, 2, "", "usage: kmsctl health"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.out, tc.err)
			}
		})
	}
}

func TestHealthEndpointFromEnv(t *testing.T) {
	ready := serve(t, &fakeNode{health: 200, ready: 200})
	t.Setenv("KMSNODE_ENDPOINT", ready)
	if code, out, errOut := runCLI("health"); code != 0 || !strings.Contains(out, ready+"/readyz: ready") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLoadBalancerUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"lb"},
		{"lb", "--backend", "a:1", "--check-scheme", "ftp"},
		{"lb", "--backend", "a:1", "--check-interval", "0s"},
		{"lb", "--backend", "a:1", "extra"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
}

// testWriter sends the lb's log to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
