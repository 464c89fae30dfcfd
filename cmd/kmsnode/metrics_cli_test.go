package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

var metricsLine = regexp.MustCompile(`(?m)^\s+metrics:\s+(\S+)\s*$`)

// TestDevMetrics: `kmsnode dev --metrics-addr` prints the metrics URL in
// its banner and serves the calls made to it there; a non-loopback metrics
// address is refused before anything starts.
func TestDevMetrics(t *testing.T) {
	t.Parallel()
	d := startDev(t, "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:"+freePort(t), "--metrics-addr", "127.0.0.1:0")
	m := metricsLine.FindStringSubmatch(d.Banner)
	if m == nil || !strings.HasPrefix(m[1], "http://127.0.0.1:") || !strings.HasSuffix(m[1], "/metrics") {
		t.Fatalf("no metrics URL in the banner:\n%s", d.Banner)
	}
	_, err := d.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	mustOK(t, "CreateKey", err)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(m[1])
	mustOK(t, "GET "+m[1], err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`kmsnode_requests_total{code="OK",operation="CreateKey"} 1`, "kmsnode_ready 1", "kmsnode_audit_healthy 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}

	p := runKmsnode(t, "dev", "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:"+freePort(t), "--metrics-addr", "0.0.0.0:"+freePort(t))
	if st := p.wait(30 * time.Second); st.ExitStatus() == 0 || !strings.Contains(p.stderr.String(), "serves metrics on loopback only") {
		t.Errorf("dev with a non-loopback metrics address: status %v, stderr %q", st, p.stderr.String())
	}
}
