package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/transport"
)

// cli runs the kmsnode command line as main does.
func cli(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestOperatorTLS(t *testing.T) {
	root := t.TempDir()
	caDir, nodeDir := filepath.Join(root, "ca"), filepath.Join(root, "nodes")

	code, out, errs := cli("operator", "tls", "ca", "--out", caDir, "--name", "test region CA", "--days", "30")
	if code != 0 {
		t.Fatalf("tls ca: exit %d\n%s%s", code, out, errs)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "gossip.key"} {
		if !strings.Contains(out, filepath.Join(caDir, f)) {
			t.Errorf("tls ca output does not name %s:\n%s", f, out)
		}
	}
	wantMode(t, caDir, fs.ModeDir|0o700)
	wantMode(t, filepath.Join(caDir, "ca.pem"), 0o644)
	wantMode(t, filepath.Join(caDir, "ca-key.pem"), 0o600)
	wantMode(t, filepath.Join(caDir, "gossip.key"), 0o600)

	ca := readCert(t, filepath.Join(caDir, "ca.pem"))
	if !ca.IsCA || ca.Subject.CommonName != "test region CA" {
		t.Errorf("CA: IsCA=%v CN=%q", ca.IsCA, ca.Subject.CommonName)
	}
	if d := time.Until(ca.NotAfter); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("CA expires in %v, want 30 days", d)
	}
	if b, _ := pem.Decode(readFile(t, filepath.Join(caDir, "ca-key.pem"))); b == nil || b.Type != "PRIVATE KEY" {
		t.Error("ca-key.pem is not a PEM PRIVATE KEY")
	}
	gossip := readFile(t, filepath.Join(caDir, "gossip.key"))
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(gossip))); err != nil || len(k) != 32 {
		t.Errorf("gossip.key %q: %d bytes, %v; want 32 bytes of base64", gossip, len(k), err)
	}

	t.Run("ca refuses to overwrite", func(t *testing.T) {
		before := snapshotDir(t, caDir)
		code, _, errs := cli("operator", "tls", "ca", "--out", caDir)
		if code != 1 || !strings.Contains(errs, "refusing to overwrite") {
			t.Fatalf("second tls ca: exit %d, stderr %q", code, errs)
		}
		// With one file missing nothing is written either.
		mustOK(t, "remove", os.Remove(filepath.Join(caDir, "gossip.key")))
		delete(before, "gossip.key")
		if code, _, errs := cli("operator", "tls", "ca", "--out", caDir); code != 1 || !strings.Contains(errs, "ca.pem already exists") {
			t.Fatalf("tls ca over a partial CA: exit %d, stderr %q", code, errs)
		}
		if after := snapshotDir(t, caDir); !maps.Equal(before, after) {
			t.Fatalf("the CA directory changed: %v → %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
		}
	})

	id := transport.Identity{Region: "us-east-1", NodeID: "n1"}
	code, out, errs = cli("operator", "tls", "node", "--ca-dir", caDir, "--out", nodeDir,
		"--region", id.Region, "--node-id", id.NodeID, "--days", "10")
	if code != 0 {
		t.Fatalf("tls node: exit %d\n%s%s", code, out, errs)
	}
	certFile, keyFile := filepath.Join(nodeDir, "n1.pem"), filepath.Join(nodeDir, "n1-key.pem")
	if !strings.Contains(out, certFile) || !strings.Contains(out, keyFile) {
		t.Errorf("tls node output does not name the files:\n%s", out)
	}
	wantMode(t, keyFile, 0o600)
	wantMode(t, certFile, 0o644)
	creds, err := transport.LoadCredentials(transport.TLSFiles{
		CAFile: filepath.Join(caDir, "ca.pem"), CertFile: certFile, KeyFile: keyFile,
	})
	if err != nil {
		t.Fatalf("LoadCredentials: %v", err)
	}
	if creds.Self != id {
		t.Errorf("identity %v, want %v", creds.Self, id)
	}
	leaf := creds.Cert.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"localhost"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("default hosts: DNS %v IP %v, want localhost and 127.0.0.1", leaf.DNSNames, leaf.IPAddresses)
	}
	if d := time.Until(leaf.NotAfter); d < 9*24*time.Hour || d > 10*24*time.Hour {
		t.Errorf("node certificate expires in %v, want 10 days", d)
	}

	t.Run("hosts", func(t *testing.T) {
		code, out, errs := cli("operator", "tls", "node", "--ca-dir", caDir, "--out", nodeDir,
			"--region", "us-east-1", "--node-id", "n2", "--days", "10", "--host", "10.0.0.5", "--host", "n2.example.internal,::1")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		c := readCert(t, filepath.Join(nodeDir, "n2.pem"))
		if !slices.Equal(c.DNSNames, []string{"n2.example.internal"}) || len(c.IPAddresses) != 2 ||
			!c.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
			t.Fatalf("SANs: DNS %v IP %v", c.DNSNames, c.IPAddresses)
		}
	})

	t.Run("node refuses to overwrite", func(t *testing.T) {
		before := readFile(t, certFile)
		code, _, errs := cli("operator", "tls", "node", "--ca-dir", caDir, "--out", nodeDir, "--region", "us-east-1", "--node-id", "n1", "--days", "10")
		if code != 1 || !strings.Contains(errs, "refusing to overwrite") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		if !bytes.Equal(before, readFile(t, certFile)) {
			t.Fatal("n1.pem changed")
		}
	})

	t.Run("failures leave no files", func(t *testing.T) {
		for _, args := range [][]string{
			{"--region", "us-east-1", "--node-id", "n3", "--days", "400"}, // outlives the CA
			{"--region", "us-east-1", "--node-id", "../n3"},
			{"--region", "US", "--node-id", "n3"},
		} {
			dir := filepath.Join(root, "fail")
			args = append([]string{"operator", "tls", "node", "--ca-dir", caDir, "--out", dir}, args...)
			if code, _, errs := cli(args...); code != 1 {
				t.Errorf("%q: exit %d, want 1; stderr %q", args, code, errs)
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 0 {
				t.Errorf("%q left files behind: %v", args, ents)
			}
		}
		if code, _, errs := cli("operator", "tls", "node", "--ca-dir", root, "--out", filepath.Join(root, "fail"),
			"--region", "us-east-1", "--node-id", "n3"); code != 1 || !strings.Contains(errs, "read CA") {
			t.Errorf("missing CA: exit %d, stderr %q", code, errs)
		}
	})
}

func TestOperatorUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"operator"}, 2},
		{[]string{"operator", "frobnicate"}, 2},
		{[]string{"operator", "tls"}, 2},
		{[]string{"operator", "tls", "frobnicate"}, 2},
		{[]string{"operator", "tls", "ca"}, 2},
		{[]string{"operator", "tls", "ca", "--out", dir, "--days", "0"}, 2},
		{[]string{"operator", "tls", "ca", "--out", dir, "--bogus"}, 2},
		{[]string{"operator", "tls", "ca", "--out", dir, "extra"}, 2},
		{[]string{"operator", "tls", "node", "--ca-dir", dir, "--out", dir, "--node-id", "n1"}, 2},
		{[]string{"operator", "tls", "node", "--ca-dir", dir, "--out", dir, "--region", "us-east-1"}, 2},
		{[]string{"operator", "--help"}, 0},
		{[]string{"operator", "tls", "ca", "--help"}, 0},
		{[]string{"operator", "tls", "node", "--help"}, 0},
	} {
		code, out, errs := cli(c.args...)
		if code != c.code {
			t.Errorf("%q: exit %d, want %d\n%s%s", c.args, code, c.code, out, errs)
		}
		if code == 2 && errs == "" {
			t.Errorf("%q: usage error without a message", c.args)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("usage errors wrote files: %v", ents)
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(readFile(t, path))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s is not a PEM certificate", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// snapshotDir maps each file name of dir to its content.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		m[e.Name()] = string(readFile(t, filepath.Join(dir, e.Name())))
	}
	return m
}
