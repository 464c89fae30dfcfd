package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// --debug-addr serves Go's profiles on loopback, next to a working node,
// and is off unless asked for.
func TestDebugListener(t *testing.T) {
	t.Parallel()
	d := startDev(t, "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0")
	line := regexp.MustCompile(`(?m)^\s+debug:\s+(http://127\.0\.0\.1:\d+)/debug/pprof/\s*$`)
	var base string
	testnode.Eventually(t, 30*time.Second, "kmsnode dev prints its debug URL", func() bool {
		m := line.FindStringSubmatch(d.stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/profile?seconds=1"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(b))
		}
	}
	// The API does not serve profiles.
	resp, err := http.Get(d.Endpoint + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("the API port serves /debug/pprof/: %s", resp.Status)
	}
	if ws := d.signal(syscall.SIGTERM); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("SIGTERM: %v, want exit 0", ws)
	}

	// Without the flag there is no debug line.
	d2 := startDev(t, "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:0")
	if strings.Contains(d2.Banner, "debug:") {
		t.Errorf("a debug listener without --debug-addr:\n%s", d2.Banner)
	}
}

func TestDebugListenerRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	p := runKmsnode(t, "dev", "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--debug-addr", "0.0.0.0:0")
	ws := p.wait(30 * time.Second)
	if !ws.Exited() || ws.ExitStatus() != 1 {
		t.Fatalf("kmsnode dev --debug-addr 0.0.0.0:0: %v, want exit 1", ws)
	}
	if !strings.Contains(p.stderr.String(), "--debug-addr 0.0.0.0:0 is not a loopback address") {
		t.Errorf("stderr does not explain the refusal:\n%s", p.stderr.String())
	}
	if strings.Contains(p.stdout.String(), "kmsnode is running") {
		t.Error("it started the node")
	}
}
