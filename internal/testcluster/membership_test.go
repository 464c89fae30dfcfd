package testcluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
	"github.com/kmsnode/kmsnode/transport"
)

func suffrage(t *testing.T, n *Node, id string) string {
	t.Helper()
	ms, err := n.Cluster().Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.NodeID == id {
			return m.Suffrage
		}
	}
	return "absent"
}

func voters(t *testing.T, n *Node) int {
	t.Helper()
	ms, err := n.Cluster().Members()
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, m := range ms {
		if m.Suffrage == "voter" {
			c++
		}
	}
	return c
}

// New nodes join as non-voters after their certificate is checked, serve
// crypto, and are promoted while the region has fewer voters than its odd
// target.
func TestRegion_JoinAndPromote(t *testing.T) {
	r := Start(t, 3)
	key := createKey(t, r.Leader())
	n4 := r.Add()
	testnode.Eventually(t, 20*time.Second, "n4 in the configuration", func() bool {
		return suffrage(t, r.Leader(), n4.ID) != "absent"
	})
	testnode.Eventually(t, 10*time.Second, "n4 serves crypto", func() bool { return encrypt(n4, key) == nil })
	// Four members: the target stays three voters.
	if s := suffrage(t, r.Leader(), n4.ID); s != "nonvoter" {
		t.Fatalf("n4 is a %s with four members, want nonvoter", s)
	}
	n5 := r.Add()
	testnode.Eventually(t, 30*time.Second, "five voters", func() bool { return voters(t, r.Leader()) == 5 })
	testnode.Eventually(t, 10*time.Second, "n5 serves crypto", func() bool { return encrypt(n5, key) == nil })
	waitDigests(t, r)
}

// A node whose certificate comes from another CA cannot join: its cluster
// port traffic is refused and logged, and it never enters the Raft
// configuration, even though it knows the gossip key.
func TestRegion_ForeignCertificateRefused(t *testing.T) {
	var logs Logs
	r := Start(t, 3, WithLogs(&logs))
	leader := r.Leader()

	rogue := r.prepare("n9", 0)
	caCert, caKey, err := transport.GenerateCA("another CA", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := transport.IssueNodeCert(caCert, caKey, transport.Identity{Region: r.Name, NodeID: "n9"}, []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(rogue.Config.Cluster.CertFile)
	for name, b := range map[string][]byte{"ca.pem": caCert, "node.pem": cert, "node-key.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := rogue.Config
	cfg.Cluster.Join = r.gossipPeers("n9")
	cfg.StartTimeout = 5 * time.Second
	started := make(chan error, 1)
	go func() {
		n, err := node.Start(context.Background(), cfg)
		if err == nil {
			n.Close()
		}
		started <- err
	}()
	testnode.Eventually(t, 20*time.Second, "the refusal logged", func() bool {
		return logs.Contains("refusing to add a node", "peer=n9") && logs.Contains("cluster port refused a connection")
	})
	if err := <-started; err == nil {
		t.Fatal("a node with a foreign certificate started and unsealed")
	}
	if s := suffrage(t, leader, "n9"); s == "voter" || s == "nonvoter" {
		t.Fatalf("the foreign node is a %s", s)
	}
}

// A node with the wrong gossip key is not even seen by the region.
func TestRegion_WrongGossipKeyRefused(t *testing.T) {
	var logs Logs
	r := Start(t, 3, WithLogs(&logs))
	stranger := r.prepare("n8", 0)
	cfg := stranger.Config
	cfg.Cluster.GossipKey = make([]byte, 32)
	cfg.Cluster.Join = r.gossipPeers("n8")
	cfg.StartTimeout = 3 * time.Second
	if n, err := node.Start(context.Background(), cfg); err == nil {
		n.Close()
		t.Fatal("a node with the wrong gossip key started")
	}
	testnode.Eventually(t, 10*time.Second, "the gossip refusal logged", func() bool {
		return logs.Contains("component=gossip", "ecrypt")
	})
	ms, err := r.Leader().Cluster().Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.NodeID == "n8" {
			t.Fatalf("the stranger appears as %+v", m)
		}
	}
}

// TestRegion_APIAdvertise: members list the advertised API address of every
// node, on every node, so tools that follow it (kmsctl status --all,
// snapshot restore's search for the leader) reach the nodes.
func TestRegion_APIAdvertise(t *testing.T) {
	// The node ID is the name of the node's directory (prepare).
	advertised := func(id string) string { return "kms-" + id + ".example:8443" }
	r := Start(t, 3, func(c *node.Config) { c.APIAdvertise = advertised(filepath.Base(filepath.Dir(c.DataDir))) })
	for _, n := range r.Running() {
		testnode.Eventually(t, 30*time.Second, "every member's advertised API address on "+n.ID, func() bool {
			ms, err := n.Cluster().Members()
			if err != nil || len(ms) != 3 {
				return false
			}
			for _, m := range ms {
				if m.APIAddr != advertised(m.NodeID) {
					return false
				}
			}
			return true
		})
	}
}
