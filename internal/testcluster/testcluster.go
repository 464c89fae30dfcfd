package testcluster

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
	"github.com/kmsnode/kmsnode/transport"
)

// Region is a running test region.
type Region struct {
	T      testing.TB
	Name   string
	Nodes  []*Node
	dir    string
	caCert []byte
	caKey  []byte
	key    []byte // gossip key
	seal   string // unseal key file shared by the nodes
	opts   []Option
}

// Node is one node of a test region. Node is nil while it is stopped.
type Node struct {
	*node.Node
	ID     string
	Config node.Config
	Client *awskms.Client
	region *Region
}

// Option adjusts every node's configuration before it starts.
type Option func(*node.Config)

// Start starts a region of n nodes that bootstrap together, and stops them
// at the end of the test.
func Start(t testing.TB, n int, opts ...Option) *Region {
	t.Helper()
	r := newRegion(t, "us-test-1", opts)
	for i := range n {
		r.Nodes = append(r.Nodes, r.prepare(fmt.Sprintf("n%d", i+1), n))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range r.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = nd.start()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %s: %v", r.Nodes[i].ID, err)
		}
	}
	return r
}

func newRegion(t testing.TB, name string, opts []Option) *Region {
	dir := t.TempDir()
	caCert, caKey, err := transport.GenerateCA("kmsnode test CA", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.Random(32)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := crypto.Random(32)
	if err != nil {
		t.Fatal(err)
	}
	sealFile := filepath.Join(dir, "unseal.key")
	if err := os.WriteFile(sealFile, []byte(base64.StdEncoding.EncodeToString(seal)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Region{T: t, Name: name, dir: dir, caCert: caCert, caKey: caKey, key: key, seal: sealFile, opts: opts}
	t.Cleanup(r.Close)
	return r
}

// prepare writes a node's certificate and builds its configuration.
func (r *Region) prepare(id string, expect int) *Node {
	t := r.T
	t.Helper()
	ndir := filepath.Join(r.dir, id)
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key, err := transport.IssueNodeCert(r.caCert, r.caKey, transport.Identity{Region: r.Name, NodeID: id}, []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"ca.pem": r.caCert, "node.pem": cert, "node-key.pem": key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(ndir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := node.DefaultConfig(filepath.Join(ndir, "data"))
	cfg.Region = r.Name
	cfg.APIAddr = "127.0.0.1:0"
	cfg.Seal = node.SealConfig{Provider: "file", KeyFile: r.seal}
	cfg.RaftHeartbeatTimeout = 500 * time.Millisecond
	cfg.RaftElectionTimeout = 500 * time.Millisecond
	cfg.Lease = time.Second
	cfg.SchedulerInterval = 50 * time.Millisecond
	cfg.StartTimeout = 60 * time.Second
	cfg.Cluster = node.ClusterConfig{
		Addr: "127.0.0.1:0", CAFile: filepath.Join(ndir, "ca.pem"),
		CertFile: filepath.Join(ndir, "node.pem"), KeyFile: filepath.Join(ndir, "node-key.pem"),
		GossipAddr: freeAddr(t), GossipKey: r.key, BootstrapExpect: expect,
		StabilizeTime: time.Second,
	}
	if os.Getenv("KMSNODE_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
	}
	for _, o := range r.opts {
		o(&cfg)
	}
	if cfg.Logger != nil {
		cfg.Logger = cfg.Logger.With("node", id)
	}
	return &Node{ID: id, Config: cfg, region: r}
}

// gossipPeers lists the gossip addresses of the region's other nodes.
func (r *Region) gossipPeers(except string) []string {
	var out []string
	for _, n := range r.Nodes {
		if n.ID != except {
			out = append(out, n.Config.Cluster.GossipAddr)
		}
	}
	return out
}

func (n *Node) start() error {
	cfg := n.Config
	cfg.Cluster.Join = n.region.gossipPeers(n.ID)
	nd, err := node.Start(context.Background(), cfg)
	if err != nil {
		return err
	}
	n.Node = nd
	// Keep the cluster address across restarts: a node that comes back on
	// a new address is re-added with it, and hashicorp/raft v1.7.3 races
	// when a peer's address changes under replication (hashicorp/raft#471).
	n.Config.Cluster.Addr = nd.Transport().Addr()
	n.Client = testnode.NewClient(nd.URL(), cfg.Region, node.DevAccessKeyID, node.DevSecretAccessKey)
	return nil
}

// Add starts a new node that joins the running region (no bootstrap).
func (r *Region) Add() *Node {
	r.T.Helper()
	n := r.prepare(fmt.Sprintf("n%d", len(r.Nodes)+1), 0)
	r.Nodes = append(r.Nodes, n)
	if err := n.start(); err != nil {
		r.T.Fatalf("start node %s: %v", n.ID, err)
	}
	return n
}

// Stop closes a node gracefully (it keeps its data directory).
func (n *Node) Stop() {
	if n.Node != nil {
		_ = n.Node.Close()
		n.Node = nil
	}
}

// Restart starts a stopped node again on its data directory.
func (n *Node) Restart() {
	n.region.T.Helper()
	n.Config.APIAddr = "127.0.0.1:0"
	n.Config.Cluster.BootstrapExpect = 0
	if err := n.start(); err != nil {
		n.region.T.Fatalf("restart node %s: %v", n.ID, err)
	}
}

// Isolate cuts the node's cluster port off from every peer (or heals it).
func (n *Node) Isolate(on bool) { n.Transport().Isolate(on) }

// Running lists the nodes that are up.
func (r *Region) Running() []*Node {
	var out []*Node
	for _, n := range r.Nodes {
		if n.Node != nil {
			out = append(out, n)
		}
	}
	return out
}

// Leader waits for a running node to lead and returns it.
func (r *Region) Leader() *Node {
	r.T.Helper()
	var leader *Node
	testnode.Eventually(r.T, 30*time.Second, "a leader", func() bool {
		for _, n := range r.Running() {
			if n.Cluster().IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// Followers returns the running nodes other than the leader.
func (r *Region) Followers() []*Node {
	l := r.Leader()
	var out []*Node
	for _, n := range r.Running() {
		if n != l {
			out = append(out, n)
		}
	}
	return out
}

// Close stops every node.
func (r *Region) Close() {
	var wg sync.WaitGroup
	for _, n := range r.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }()
	}
	wg.Wait()
}

// freeAddr returns a loopback address whose TCP and UDP ports are free now.
func freeAddr(t testing.TB) string {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		pc.Close()
		return addr
	}
	t.Fatal("no free port")
	return ""
}
