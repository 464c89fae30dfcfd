package testcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// keyring is a node's answer to KmsNodeOperator.GossipKeyring.
type keyring struct {
	NodeID string `json:"NodeId"`
	Keys   []struct {
		Fingerprint string
		Primary     bool
	}
}

// operatorCall sends one signed KmsNodeOperator call to n and returns the
// HTTP status and body.
func operatorCall(t *testing.T, n *Node, op string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL()+"/", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "KmsNodeOperator."+op)
	sum := sha256.Sum256(b)
	creds := aws.Credentials{AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kms", n.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s on %s: %v", op, n.ID, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// gossipKeyring runs one keyring operation on n, which must succeed.
func gossipKeyring(t *testing.T, n *Node, op string, key []byte) keyring {
	t.Helper()
	status, body := operatorCall(t, n, "GossipKeyring", map[string]any{"Op": op, "Key": key})
	if status != http.StatusOK {
		t.Fatalf("GossipKeyring %s on %s: HTTP %d %s", op, n.ID, status, body)
	}
	var kr keyring
	if err := json.Unmarshal(body, &kr); err != nil {
		t.Fatalf("GossipKeyring %s on %s: %v: %s", op, n.ID, err, body)
	}
	if kr.NodeID != n.ID {
		t.Fatalf("GossipKeyring on %s answered for %q", n.ID, kr.NodeID)
	}
	return kr
}

func fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// fingerprints renders a keyring as "fp*,fp" with * on the primary.
func (k keyring) String() string {
	var parts []string
	for _, e := range k.Keys {
		s := e.Fingerprint
		if e.Primary {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

// gossipConverged reports whether every running node sees every other one
// alive in gossip.
func gossipConverged(t *testing.T, r *Region) bool {
	t.Helper()
	for _, n := range r.Running() {
		ms, err := n.Cluster().Members()
		if err != nil {
			return false
		}
		alive := 0
		for _, m := range ms {
			if m.Gossip == "alive" {
				alive++
			}
		}
		if alive != len(r.Running()) {
			return false
		}
	}
	return true
}

// The region rotates its gossip key without losing a member: install the
// new key everywhere, use it everywhere, remove the old one everywhere. A
// node that knows only the new key joins afterwards; one that knows only
// the old key is shut out; neither key ever reaches a log line.
func TestRegion_GossipKeyRotation(t *testing.T) {
	var logs Logs
	r := Start(t, 3, WithLogs(&logs))
	key := createKey(t, r.Leader())
	testnode.Eventually(t, 30*time.Second, "gossip converged", func() bool { return gossipConverged(t, r) })
	oldKey := r.key
	newKey, err := crypto.Random(32)
	if err != nil {
		t.Fatal(err)
	}
	oldFP, newFP := fingerprint(oldKey), fingerprint(newKey)

	for _, n := range r.Nodes {
		if got := gossipKeyring(t, n, "list", nil).String(); got != oldFP+"*" {
			t.Fatalf("%s keyring %s, want %s*", n.ID, got, oldFP)
		}
	}
	steps := []struct {
		op   string
		key  []byte
		want string
	}{
		{"install", newKey, oldFP + "*," + newFP},
		{"install", newKey, oldFP + "*," + newFP}, // idempotent: a rerun changes nothing
		{"use", newKey, newFP + "*," + oldFP},
		{"remove", oldKey, newFP + "*"},
		{"remove", oldKey, newFP + "*"},
	}
	for _, s := range steps {
		for _, n := range r.Nodes {
			if got := gossipKeyring(t, n, s.op, s.key).String(); got != s.want {
				t.Fatalf("%s on %s: keyring %s, want %s", s.op, n.ID, got, s.want)
			}
		}
		testnode.Eventually(t, 30*time.Second, "gossip converged after "+s.op, func() bool { return gossipConverged(t, r) })
	}

	// Refusals: the primary cannot be removed, an absent key cannot be
	// used, a bad request names the problem.
	n1 := r.Nodes[0]
	refusals := []struct {
		body      map[string]any
		status    int
		typ, text string
	}{
		{map[string]any{"Op": "remove", "Key": newKey}, 400, "KMSInvalidStateException", "use another key first"},
		{map[string]any{"Op": "use", "Key": oldKey}, 400, "NotFoundException", "not installed"},
		{map[string]any{"Op": "install", "Key": newKey[:16]}, 400, "ValidationException", "32 bytes"},
		{map[string]any{"Op": "rotate", "Key": newKey}, 400, "ValidationException", "list, install, use or remove"},
		{map[string]any{"Op": "list", "Key": newKey}, 400, "ValidationException", "absent"},
		{map[string]any{"Op": "install", "Key": "***"}, 400, "SerializationException", ""},
	}
	for _, c := range refusals {
		status, body := operatorCall(t, n1, "GossipKeyring", c.body)
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		if status != c.status || e.Type != c.typ || !strings.Contains(e.Message, c.text) {
			t.Errorf("GossipKeyring %v: HTTP %d %s, want %d %s saying %q", c.body["Op"], status, body, c.status, c.typ, c.text)
		}
	}
	if got := gossipKeyring(t, n1, "list", nil).String(); got != newFP+"*" {
		t.Fatalf("the refusals changed the keyring: %s", got)
	}

	// A node started with the old key only cannot join any more.
	stranger := r.prepare("n9", 0)
	cfg := stranger.Config
	cfg.Cluster.GossipKey = oldKey
	cfg.Cluster.Join = r.gossipPeers("n9")
	cfg.StartTimeout = 5 * time.Second
	if n, err := node.Start(context.Background(), cfg); err == nil {
		n.Close()
		t.Fatal("a node with the removed gossip key started and unsealed")
	}
	if s := suffrage(t, r.Leader(), "n9"); s != "absent" {
		t.Fatalf("the node with the removed key is %s", s)
	}

	// A node started with the new key (its --gossip-key-file updated)
	// joins the region and serves.
	r.key = newKey
	n4 := r.Add()
	testnode.Eventually(t, 30*time.Second, "n4 in the configuration", func() bool {
		return suffrage(t, r.Leader(), n4.ID) != "absent"
	})
	testnode.Eventually(t, 30*time.Second, "n4 serves crypto", func() bool { return encrypt(n4, key) == nil })
	testnode.Eventually(t, 30*time.Second, "gossip converged with n4", func() bool { return gossipConverged(t, r) })

	for _, k := range [][]byte{oldKey, newKey} {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k), fmt.Sprintf("%v", k)} {
			if strings.Contains(logs.String(), enc) {
				t.Fatalf("a gossip key reached the log")
			}
		}
	}
	if !logs.Contains("gossip key removed", oldFP) {
		t.Error("the removal is not logged with the key's fingerprint")
	}
}
