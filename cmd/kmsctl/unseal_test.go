package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// sealedShamirNode starts a 3-of-4 shamir node, restarts it sealed and
// returns it with the base64 text of its shares.
func sealedShamirNode(t *testing.T) (*testnode.Node, []string) {
	t.Helper()
	dir, out := t.TempDir(), &testnode.Buffer{}
	opt := func(c *node.Config) {
		c.Seal = node.SealConfig{Provider: "shamir", Shares: 4, Threshold: 3, Output: out}
	}
	n := testnode.Start(t, testnode.WithDataDir(dir), opt)
	var shares []string
	testnode.Eventually(t, 30*time.Second, "the shares printed and the node unsealed", func() bool {
		shares = shares[:0]
		for _, m := range regexp.MustCompile(`Unseal share \d+: (\S+)`).FindAllStringSubmatch(out.String(), -1) {
			shares = append(shares, m[1])
		}
		return len(shares) == 4 && !n.Sealed()
	})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	return testnode.Start(t, testnode.WithDataDir(dir), opt), shares
}

func TestUnsealCLI(t *testing.T) {
	n, shares := sealedShamirNode(t)
	t.Setenv("KMSNODE_ENDPOINT", n.URL())

	code, out, errOut := runCLI("seal-status", "--json")
	if code != 1 || !strings.Contains(errOut, "node is sealed") {
		t.Fatalf("seal-status of a sealed node: exit %d\n%s%s", code, out, errOut)
	}
	var st sealStatusOutput
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("seal-status --json: %v\n%s", err, out)
	}
	testnode.Eventually(t, 30*time.Second, "the node knows its seal", func() bool {
		_, out, _ = runCLI("seal-status", "--json")
		return json.Unmarshal([]byte(out), &st) == nil && st.Initialized
	})
	if !st.Sealed || st.Threshold != 3 || st.Shares != 4 || st.Provider != "shamir" {
		t.Fatalf("seal-status: %+v", st)
	}

	// Share 1 from a file, share 2 from standard input (with the padding
	// dropped), share 3 from a file: unsealed.
	dir := t.TempDir()
	f1, f3 := filepath.Join(dir, "s1"), filepath.Join(dir, "s3")
	if err := os.WriteFile(f1, []byte(shares[0]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f3, []byte(shares[3]), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI("unseal", "--share-file", f1)
	if code != 0 || !strings.Contains(out, "progress     1/3") || !strings.Contains(out, "sealed       true") {
		t.Fatalf("unseal 1: exit %d\n%s%s", code, out, errOut)
	}
	// The same share again is refused and says why.
	code, _, errOut = runCLI("unseal", "--share-file", f1)
	if code != 1 || !strings.Contains(errOut, "ValidationException") || !strings.Contains(errOut, "already") {
		t.Fatalf("unseal with a repeated share: exit %d, %s", code, errOut)
	}
	stdin = strings.NewReader(strings.TrimRight(shares[2], "=") + "\n")
	t.Cleanup(func() { stdin = os.Stdin })
	code, out, errOut = runCLI("unseal", "--share-file", "-")
	if code != 0 || !strings.Contains(out, "progress     2/3") {
		t.Fatalf("unseal 2 from stdin: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI("unseal", "--share-file", f3, "--json")
	if code != 0 {
		t.Fatalf("unseal 3: exit %d\n%s%s", code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Sealed || st.KeyringTerm != 1 {
		t.Fatalf("unseal 3: %+v, %v\n%s", st, err, out)
	}
	if n.Sealed() {
		t.Fatal("node still sealed")
	}
	code, out, errOut = runCLI("seal-status")
	if code != 0 || !strings.Contains(out, "sealed       false") {
		t.Fatalf("seal-status unsealed: exit %d\n%s%s", code, out, errOut)
	}
}

func TestUnsealCLI_BadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notB64 := filepath.Join(dir, "bad")
	if err := os.WriteFile(notB64, []byte("not-base64!"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"unseal", "--share-file", empty, "--endpoint", "http://127.0.0.1:1"}, 1, "no unseal share"},
		{[]string{"unseal", "--share-file", notB64, "--endpoint", "http://127.0.0.1:1"}, 1, "not base64"},
		{[]string{"unseal", "--share-file", filepath.Join(dir, "missing")}, 1, "read the unseal share"},
		{[]string{"unseal", "extra"}, 2, "unexpected argument"},
		{[]string{"seal-status", "--endpoint", unreachable(t)}, 1, ""},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}
