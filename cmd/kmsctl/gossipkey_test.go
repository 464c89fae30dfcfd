package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/internal/testcluster"
	"github.com/kmsnode/kmsnode/internal/testnode"
)

func writeKey(t *testing.T, key []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(f, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// listKeyrings runs `kmsctl gossip-key list --json` over the endpoints.
func listKeyrings(t *testing.T, endpoints string) map[string]string {
	t.Helper()
	code, out, errOut := runCLI("gossip-key", "list", "--endpoint", strings.Split(endpoints, ",")[0], "--endpoints", endpoints, "--json")
	if code != 0 {
		t.Fatalf("gossip-key list: exit %d\n%s", code, errOut)
	}
	var got struct{ Nodes []nodeKeyring }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("gossip-key list --json: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, n := range got.Nodes {
		var fps []string
		for _, k := range n.Keys {
			fp := k.Fingerprint
			if k.Primary {
				fp += "*"
			}
			fps = append(fps, fp)
		}
		m[n.NodeID] = strings.Join(fps, ",")
	}
	return m
}

// `kmsctl gossip-key` rotates a real region's gossip key in the safe order
// (install everywhere, then use, then remove), refuses to start when an
// endpoint is missing, and leaves the pool converged.
func TestGossipKeyCommandsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node region")
	}
	r := testcluster.Start(t, 3)
	devEnv(t, r.Nodes[0].Config.Region)
	old := r.Nodes[0].Config.Cluster.GossipKey
	newKey := make([]byte, 32)
	for i := range newKey {
		newKey[i] = byte(i*7 + 1)
	}
	oldFile, newFile := writeKey(t, old), writeKey(t, newKey)
	oldFP, newFP := gossipFingerprint(old), gossipFingerprint(newKey)
	var urls []string
	for _, n := range r.Nodes {
		urls = append(urls, n.URL())
	}
	all := strings.Join(urls, ",")
	before := map[string]string{"n1": oldFP + "*", "n2": oldFP + "*", "n3": oldFP + "*"}
	testnode.Eventually(t, 30*time.Second, "every node alive in gossip", func() bool {
		ms := listMembers(t, urls[0])
		for _, m := range ms {
			if m.Gossip != "alive" {
				return false
			}
		}
		return len(ms) == 3
	})

	refused := []struct {
		name string
		args []string
		want string
	}{
		// In-process nodes advertise API port 0: kmsctl must be told.
		{"no usable advertised address", []string{"list", "--endpoint", urls[0]}, "does not advertise a usable API address"},
		{"an endpoint missing", []string{"install", "--key-file", newFile, "--endpoint", urls[0], "--endpoints", urls[0] + "," + urls[1]}, "no endpoint reaches node n3"},
		{"the same node twice", []string{"install", "--key-file", newFile, "--endpoint", urls[0], "--endpoints", all + "," + urls[1]}, "are the same node n2"},
		{"use before install", []string{"use", "--key-file", newFile, "--endpoint", urls[0], "--endpoints", all}, "NotFoundException"},
		{"remove the key in use", []string{"remove", "--key-file", oldFile, "--endpoint", urls[0], "--endpoints", all}, "KMSInvalidStateException"},
	}
	for _, c := range refused {
		code, _, errOut := runCLI(append([]string{"gossip-key"}, c.args...)...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 saying %q", c.name, code, errOut, c.want)
		}
		if got := listKeyrings(t, all); jsonOf(got) != jsonOf(before) {
			t.Fatalf("%s: the refused command changed keyrings: %v", c.name, got)
		}
	}

	code, out, errOut := runCLI("gossip-key", "rotate", "--key-file", newFile, "--old-key-file", oldFile, "--endpoint", urls[1], "--endpoints", all)
	if code != 0 {
		t.Fatalf("rotate: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Every node did each step before any node did the next.
	var steps []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 || f[3] != "done" {
			t.Fatalf("progress line %q", l)
		}
		steps = append(steps, f[1]+" "+f[2])
	}
	want := []string{"install " + newFP, "install " + newFP, "install " + newFP, "use " + newFP, "use " + newFP, "use " + newFP, "remove " + oldFP, "remove " + oldFP, "remove " + oldFP}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Fatalf("rotation steps:\n%s\nwant %v", errOut, want)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NODE ") {
		t.Fatalf("rotate table:\n%s", out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) != 3 || f[1] != newFP || f[2] != newFP {
			t.Errorf("row %q: want the new key alone, primary", l)
		}
	}
	after := map[string]string{"n1": newFP + "*", "n2": newFP + "*", "n3": newFP + "*"}
	if got := listKeyrings(t, all); jsonOf(got) != jsonOf(after) {
		t.Fatalf("keyrings after the rotation: %v", got)
	}
	// Rerunning a finished rotation is harmless.
	if code, _, errOut := runCLI("gossip-key", "rotate", "--key-file", newFile, "--old-key-file", oldFile, "--endpoint", urls[2], "--endpoints", all); code != 0 {
		t.Fatalf("second rotate: exit %d\n%s", code, errOut)
	}
	testnode.Eventually(t, 30*time.Second, "every node still alive in gossip", func() bool {
		for _, u := range urls {
			ms := listMembers(t, u)
			if len(ms) != 3 {
				return false
			}
			for _, m := range ms {
				if m.Gossip != "alive" {
					return false
				}
			}
		}
		return true
	})
}

// Argument checks come before any credential or network use.
func TestGossipKeyUsage(t *testing.T) {
	devEnv(t, "us-test-1")
	key := writeKey(t, make([]byte, 32))
	other := writeKey(t, append(make([]byte, 31), 1))
	short := writeKey(t, make([]byte, 16))
	down := unreachable(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: kmsctl gossip-key"},
		{[]string{"rotate-all"}, 2, "unknown gossip-key command"},
		{[]string{"--endpoint", down}, 2, "usage"},
		{[]string{"list", "extra"}, 2, "unexpected argument"},
		{[]string{"install", "--endpoint", down}, 1, "--key-file is required"},
		{[]string{"install", "--key-file", short, "--endpoint", down}, 1, "32 bytes in base64"},
		{[]string{"install", "--key-file", filepath.Join(t.TempDir(), "none"), "--endpoint", down}, 1, "no such file"},
		{[]string{"rotate", "--key-file", key, "--endpoint", down}, 1, "--old-key-file is required"},
		{[]string{"rotate", "--key-file", key, "--old-key-file", key, "--endpoint", down}, 1, "the same key"},
		{[]string{"rotate", "--key-file", key, "--old-key-file", other, "--endpoint", down}, 1, "connection refused"},
	} {
		code, _, errOut := runCLI(append([]string{"gossip-key"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("gossip-key %v: exit %d, stderr %q; want %d saying %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if code, out, _ := runCLI("gossip-key", "--help"); code != 0 || !strings.Contains(out, "--gossip-key-file") {
		t.Errorf("--help: exit %d, stdout %q", code, out)
	}
}

func TestAdvertisedEndpoint(t *testing.T) {
	for _, tc := range []struct {
		m    member
		want string
	}{
		{member{NodeID: "n1", APIAddr: "10.0.0.5:8443", Address: "10.0.0.5:8300"}, "https://10.0.0.5:8443"},
		{member{NodeID: "n1", APIAddr: "0.0.0.0:8443", Address: "10.0.0.6:8300"}, "https://10.0.0.6:8443"},
		{member{NodeID: "n1", APIAddr: "[::]:8443", Address: "[fd00::6]:8300"}, "https://[fd00::6]:8443"},
		{member{NodeID: "n1", APIAddr: ":8443", Address: "node1.example:8300"}, "https://node1.example:8443"},
		{member{NodeID: "n1", APIAddr: "127.0.0.1:0", Address: "127.0.0.1:8300"}, ""},
		{member{NodeID: "n1", APIAddr: "", Address: "127.0.0.1:8300"}, ""},
		{member{NodeID: "n1", APIAddr: "0.0.0.0:8443", Address: ""}, ""},
	} {
		got, err := advertisedEndpoint("https", tc.m)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("advertisedEndpoint(%+v) = %q, %v; want %q", tc.m, got, err, tc.want)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
