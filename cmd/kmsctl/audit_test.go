package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/internal/testnode"
)

// nodeAuditLog runs a node, makes a few calls, asks it for its audit key
// with `kmsctl audit public-key`, stops it and returns the key and the
// lines of its audit log.
func nodeAuditLog(t *testing.T) (string, [][]byte) {
	t.Helper()
	n := testnode.Start(t)
	devEnv(t, n.Config.Region)
	ctx := testnode.Ctx(t)
	out, err := n.Client.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("audit cli")})
	testnode.MustOK(t, "CreateKey", err)
	for range 4 {
		_, err := n.Client.Encrypt(ctx, &awskms.EncryptInput{KeyId: out.KeyMetadata.KeyId, Plaintext: []byte("p")})
		testnode.MustOK(t, "Encrypt", err)
	}
	code, stdout, stderr := runCLI("audit", "public-key", "--endpoint", n.URL())
	if code != 0 {
		t.Fatalf("audit public-key: exit %d\n%s%s", code, stdout, stderr)
	}
	key := strings.TrimSpace(stdout)
	if key != n.AuditPublicKey() {
		t.Fatalf("audit public-key = %q, the node printed %q", key, n.AuditPublicKey())
	}
	code, stdout, stderr = runCLI("audit", "public-key", "--endpoint", n.URL(), "--json")
	var info struct{ NodeId, PublicKey string }
	if code != 0 || json.Unmarshal([]byte(stdout), &info) != nil || info.PublicKey != key || info.NodeId != n.Node.Config().NodeID {
		t.Fatalf("audit public-key --json: exit %d %q %s", code, stdout, stderr)
	}
	testnode.MustOK(t, "Close", n.Close()) // writes the last checkpoint
	data, err := os.ReadFile(filepath.Join(n.Config.DataDir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return key, bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func writeLines(t *testing.T, name string, lines [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func clone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = bytes.Clone(l)
	}
	return out
}

// kindOf returns "header", "checkpoint" or "" (a record) for a line.
func kindOf(t *testing.T, l []byte) string {
	var m struct{ KmsnodeAudit string }
	if err := json.Unmarshal(l, &m); err != nil {
		t.Fatal(err)
	}
	return m.KmsnodeAudit
}

// forgeCheckpoint re-signs a checkpoint line with another key, keeping
// everything else: what someone without the node's key can do at best.
func forgeCheckpoint(t *testing.T, line []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	var c struct {
		Time, Node, Region, PublicKey, Signature, Prev string
		Records, Seq                                   uint64
	}
	if err := json.Unmarshal(line, &c); err != nil {
		t.Fatal(err)
	}
	var prev [sha256.Size]byte
	if _, err := hex.Decode(prev[:], []byte(c.Prev)); err != nil {
		t.Fatal(err)
	}
	sig := ed25519.Sign(priv, audit.CheckpointMessage(c.Node, c.Region, c.Seq, c.Records, prev, c.Time))
	pub := base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	line = bytes.Replace(line, []byte(c.PublicKey), []byte(pub), 1)
	return bytes.Replace(line, []byte(c.Signature), []byte(base64.StdEncoding.EncodeToString(sig)), 1)
}

// TestAuditVerifyCommand: `kmsctl audit verify` passes on a node's
// untouched log and fails, naming the file, line and seq of the first bad
// line, when one byte is changed, one record removed, two records swapped
// or a checkpoint forged; an unsigned tail is a warning, or a failure with
// --require-signed-tail.
func TestAuditVerifyCommand(t *testing.T) {
	key, lines := nodeAuditLog(t)
	if kindOf(t, lines[0]) != "header" || kindOf(t, lines[len(lines)-1]) != "checkpoint" {
		t.Fatalf("log does not run from a header to a checkpoint:\n%s", bytes.Join(lines, []byte("\n")))
	}
	// Two adjacent records well inside the signed part.
	r := -1
	for i := 1; i+2 < len(lines); i++ {
		if kindOf(t, lines[i]) == "" && kindOf(t, lines[i+1]) == "" {
			r = i
			break
		}
	}
	if r < 0 {
		t.Fatal("no two adjacent records")
	}
	good := writeLines(t, "audit.log", lines)
	code, out, errOut := runCLI("audit", "verify", "--public-key", key, "--require-signed-tail", good)
	if code != 0 || !strings.HasPrefix(out, "OK ") || !strings.Contains(out, "(pinned)") || strings.Contains(out, "warning") {
		t.Fatalf("untouched log: exit %d\n%s%s", code, out, errOut)
	}
	keyFile := filepath.Join(t.TempDir(), "audit-key.pub")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI("audit", "verify", "--public-key", keyFile, "--json", good)
	var rep audit.Report
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK() || !rep.KeyPinned || rep.PublicKey != key ||
		rep.Unsigned != 0 || rep.Records < 6 {
		t.Fatalf("--json with a key file: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI("audit", "verify", good)
	if code != 0 || !strings.Contains(out, "not pinned") || !strings.Contains(out, "warning: no public key was pinned") {
		t.Errorf("unpinned: exit %d\n%s", code, out)
	}

	_, mallory, _ := ed25519.GenerateKey(nil)
	last := len(lines) - 1
	for _, tc := range []struct {
		name  string
		edit  func(l [][]byte) [][]byte
		flags []string
		line  int // 1-based, in the edited file
		seq   int
		why   string
	}{
		{"one byte changed", func(l [][]byte) [][]byte {
			l[r] = bytes.Replace(l[r], []byte(`"sourceIPAddress":"127.0.0.1"`), []byte(`"sourceIPAddress":"127.0.0.2"`), 1)
			return l
		}, nil, r + 1, r + 1, "this line was changed"},
		{"one record removed", func(l [][]byte) [][]byte { return append(l[:r], l[r+1:]...) }, nil, r + 1, r + 2, "missing"},
		{"two records swapped", func(l [][]byte) [][]byte { l[r], l[r+1] = l[r+1], l[r]; return l }, nil, r + 1, r + 2, "out of order"},
		{"checkpoint forged", func(l [][]byte) [][]byte {
			l[last] = forgeCheckpoint(t, l[last], mallory)
			return l
		}, nil, last + 1, last + 1, "not a pinned key"},
		{"unsigned tail required", func(l [][]byte) [][]byte { return l[:last] }, []string{"--require-signed-tail"}, 0, 0, "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeLines(t, "tampered.log", tc.edit(clone(lines)))
			args := append([]string{"audit", "verify", "--public-key", key}, tc.flags...)
			code, out, errOut := runCLI(append(args, path)...)
			want := fmt.Sprintf("FAIL %s line %d (seq %d): ", path, tc.line, tc.seq)
			if tc.line == 0 {
				want = "FAIL " + path + " line "
			}
			if code != 1 || !strings.HasPrefix(out, want) || !strings.Contains(out, tc.why) ||
				!strings.Contains(errOut, "the audit log does not verify") {
				t.Errorf("exit %d, want 1 and %q … %q\nstdout:\n%s\nstderr:\n%s", code, want, tc.why, out, errOut)
			}
		})
	}
	// Without --require-signed-tail an unsigned tail is a warning.
	path := writeLines(t, "tail.log", lines[:last])
	if code, out, _ := runCLI("audit", "verify", "--public-key", key, path); code != 0 || !strings.Contains(out, "warning: ") ||
		!strings.Contains(out, "checkpoint") {
		t.Errorf("unsigned tail: exit %d\n%s", code, out)
	}
}

func TestAuditCommandUsage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"audit"}, 2, "usage"},
		{[]string{"audit", "frobnicate"}, 2, "unknown audit command"},
		{[]string{"audit", "verify"}, 2, "no audit file given"},
		{[]string{"audit", "verify", "--public-key", "not-a-key", "x.log"}, 1, "neither a base64 Ed25519 public key nor a file"},
		{[]string{"audit", "verify", filepath.Join(t.TempDir(), "missing.log")}, 1, "no such file"},
	} {
		code, _, errOut := runCLI(c.args...)
		if code != c.code || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.err)
		}
	}
}
