package main

// Helpers of the tests that run a region of real `kmsnode serve` processes:
// the CA, node certificates and gossip key come from the binary's own
// `operator tls` commands, every node gets its own ports, and the operator
// API (KmsNodeOperator.ListMembers) tells which node leads.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const (
	clusterRegion  = "eu-central-1"
	clusterAccount = "210987654321"
)

// region is a set of `kmsnode serve` processes forming one region.
type region struct {
	t     *testing.T
	nodes []*serveNode
}

// serveNode is one node of a region: its settings survive restarts.
type serveNode struct {
	id       string
	apiAddr  string
	endpoint string
	args     []string
	p        *proc // the current process
	client   *awskms.Client
}

// newRegion prepares n nodes (n1…) with fresh certificates, a shared unseal
// key and secret, and free ports; extra flags go to every node. Nothing runs
// yet.
func newRegion(t *testing.T, n int, extra ...string) *region {
	t.Helper()
	dir := t.TempDir()
	caDir, certDir := filepath.Join(dir, "ca"), filepath.Join(dir, "certs")
	operatorOK(t, "operator", "tls", "ca", "--out", caDir)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	unsealFile, secretFile := filepath.Join(dir, "unseal.key"), filepath.Join(dir, "secret")
	mustOK(t, "write unseal key", os.WriteFile(unsealFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600))
	mustOK(t, "write secret", os.WriteFile(secretFile, []byte(node.DevSecretAccessKey+"\n"), 0o600))

	r := &region{t: t}
	gossip := make([]string, n)
	for i := range n {
		gossip[i] = "127.0.0.1:" + freePort(t)
	}
	for i := range n {
		id := fmt.Sprintf("n%d", i+1)
		operatorOK(t, "operator", "tls", "node", "--ca-dir", caDir, "--out", certDir,
			"--region", clusterRegion, "--node-id", id, "--host", "127.0.0.1")
		sn := &serveNode{id: id, apiAddr: "127.0.0.1:" + freePort(t)}
		sn.endpoint = "http://" + sn.apiAddr
		sn.args = []string{"serve",
			"--region", clusterRegion, "--account-id", clusterAccount,
			"--data-dir", filepath.Join(dir, id), "--api-addr", sn.apiAddr,
			"--access-key-id", node.DevAccessKeyID, "--secret-access-key-file", secretFile,
			"--seal", "file", "--seal-key-file", unsealFile,
			"--cluster-addr", "127.0.0.1:" + freePort(t),
			"--cluster-ca-file", filepath.Join(caDir, "ca.pem"),
			"--cluster-cert-file", filepath.Join(certDir, id+".pem"),
			"--cluster-key-file", filepath.Join(certDir, id+"-key.pem"),
			"--gossip-addr", gossip[i], "--gossip-key-file", filepath.Join(caDir, "gossip.key"),
			"--bootstrap-expect", fmt.Sprint(n),
		}
		for j, g := range gossip {
			if j != i {
				sn.args = append(sn.args, "--join", g)
			}
		}
		sn.args = append(sn.args, extra...)
		sn.client = testnode.NewClient(sn.endpoint, clusterRegion, node.DevAccessKeyID, node.DevSecretAccessKey)
		r.nodes = append(r.nodes, sn)
	}
	return r
}

// operatorOK runs a `kmsnode operator` command that must succeed.
func operatorOK(t *testing.T, args ...string) {
	t.Helper()
	p := runKmsnode(t, args...)
	if ws := p.wait(60 * time.Second); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("kmsnode %s: %v\n%s", strings.Join(args, " "), ws, p.stderr.String())
	}
}

// startAll starts every node at once (bootstrap needs them all), then
// waits until each prints its banner and holds a read lease.
func (r *region) startAll() {
	r.t.Helper()
	for _, sn := range r.nodes {
		sn.start(r.t)
	}
	for _, sn := range r.nodes {
		sn.waitReady(r.t)
	}
}

// start runs the node's process (again, on its data directory).
func (sn *serveNode) start(t *testing.T) {
	t.Helper()
	sn.p = runKmsnode(t, sn.args...)
	// A new client: the old one's kept-alive connections end at the
	// process that was stopped.
	sn.client = testnode.NewClient(sn.endpoint, clusterRegion, node.DevAccessKeyID, node.DevSecretAccessKey)
}

// waitReady waits for "kmsnode serving <endpoint> (…, node <id>)" and then
// a 200 from /readyz.
func (sn *serveNode) waitReady(t *testing.T) {
	t.Helper()
	banner := fmt.Sprintf("kmsnode serving %s (region %s, node %s)", sn.endpoint, clusterRegion, sn.id)
	testnode.Eventually(t, 90*time.Second, sn.id+" prints its banner", func() bool {
		if sn.p.exited() {
			t.Fatalf("%s exited before serving (%v)\nstderr:\n%s", sn.id, sn.p.state, sn.p.stderr.String())
		}
		return strings.Contains(sn.p.stdout.String(), banner)
	})
	testnode.Eventually(t, 30*time.Second, sn.id+" /readyz", func() bool { return httpOK(sn.endpoint + "/readyz") })
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

func httpOK(url string) bool {
	resp, err := probeClient.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// clusterMember is one entry of KmsNodeOperator.ListMembers.
type clusterMember struct {
	NodeID      string `json:"node_id"`
	ClusterAddr string `json:"cluster_addr"`
	APIAddr     string `json:"api_addr"`
	Suffrage    string `json:"suffrage"`
	Leader      bool   `json:"leader"`
	Gossip      string `json:"gossip"`
}

// listMembers calls KmsNodeOperator.ListMembers on one node, signed with
// SigV4 like any KMS call.
func listMembers(ctx context.Context, endpoint string) ([]clusterMember, error) {
	body := []byte("{}")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "KmsNodeOperator.ListMembers")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", clusterRegion, time.Now()); err != nil {
		return nil, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ListMembers: %s: %s", resp.Status, b)
	}
	var out struct{ Members []clusterMember }
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("ListMembers: %w: %s", err, b)
	}
	return out.Members, nil
}

// leaderAmong asks each of the nodes for the members and returns the node
// that one of them reports as leader, when that leader is among the nodes.
func (r *region) leaderAmong(nodes []*serveNode) *serveNode {
	for _, asked := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ms, err := listMembers(ctx, asked.endpoint)
		cancel()
		if err != nil {
			continue
		}
		for _, m := range ms {
			if !m.Leader {
				continue
			}
			for _, sn := range nodes {
				if sn.apiAddr == m.APIAddr && sn.id == m.NodeID {
					return sn
				}
			}
		}
	}
	return nil
}

// waitMembers waits until the node reports every node of the region as an
// alive voter, with one leader.
func (r *region) waitMembers(sn *serveNode) []clusterMember {
	r.t.Helper()
	var last []clusterMember
	var lastErr error
	ok := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		last, lastErr = listMembers(ctx, sn.endpoint)
		if lastErr != nil || len(last) != len(r.nodes) {
			return false
		}
		leaders := 0
		for _, m := range last {
			if m.Suffrage != "voter" || m.Gossip != "alive" {
				return false
			}
			if m.Leader {
				leaders++
			}
			if !r.hasMember(m) {
				return false
			}
		}
		return leaders == 1
	}
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: members never showed %d alive voters and one leader: %v %s", sn.id, len(r.nodes), lastErr, jsonOf(last))
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	return last
}

// hasMember reports whether m is one of the region's nodes (ID and API
// address).
func (r *region) hasMember(m clusterMember) bool {
	for _, sn := range r.nodes {
		if sn.id == m.NodeID && sn.apiAddr == m.APIAddr {
			return true
		}
	}
	return false
}
