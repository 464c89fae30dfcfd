package node_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// withMetrics gives a test node a metrics listener on a free loopback port.
func withMetrics(c *node.Config) { c.MetricsAddr = "127.0.0.1:0" }

// scrapeResult is one parsed scrape.
type scrapeResult struct {
	fams map[string]*dto.MetricFamily
	body []byte
}

// scrape GETs url and parses the Prometheus text format.
func scrape(t testing.TB, client *http.Client, url string) scrapeResult {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %v: %s", url, resp.StatusCode, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse the scrape: %v\n%s", err, body)
	}
	return scrapeResult{fams: fams, body: body}
}

// get returns the value of the series of family name whose labels include
// the given name=value pairs; for a histogram, its sample count.
func (s scrapeResult) get(name string, labels ...string) (float64, bool) {
	f, ok := s.fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// must returns a series' value or fails the test.
func (s scrapeResult) must(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.get(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return v
}

// histogramSum is the sum of a histogram series.
func (s scrapeResult) histogramSum(name string, labels ...string) float64 {
	f, ok := s.fams[name]
	if !ok || len(f.Metric) == 0 {
		return math.NaN()
	}
	for _, m := range f.Metric {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok := false
			for _, lp := range m.Label {
				ok = ok || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			match = match && ok
		}
		if match && m.Histogram != nil {
			return m.Histogram.GetSampleSum()
		}
	}
	return math.NaN()
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestMetricsUnderLoad drives a node with the SDK (successes and an
// error), one request with an unknown target and no signature, then
// scrapes /metrics and checks every series family with its value: request
// counts and latencies by operation and code, Raft, lease, readiness, the
// state's counts, the audit sink, the runtime; and that no key ID, alias,
// principal, access key or caller-chosen name reaches the output.
func TestMetricsUnderLoad(t *testing.T) {
	t.Parallel()
	n := start(t, withMetrics)
	url := n.MetricsURL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/metrics") {
		t.Fatalf("MetricsURL %q", url)
	}
	c := n.Client
	keys := []string{newKey(t, c, nil), newKey(t, c, nil), newKey(t, c, nil)}
	createAlias(t, c, "alias/metrics-secret-name", keys[0])
	for i := range 5 {
		_, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(keys[0]), Plaintext: []byte{byte(i)}})
		mustOK(t, "Encrypt", err)
	}
	_, err := c.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: aws.String(keys[0]),
		GranteePrincipal: aws.String("arn:aws:iam::111122223333:user/grantee-secret-name"),
		Operations:       []types.GrantOperation{types.GrantOperationEncrypt}})
	mustOK(t, "CreateGrant", err)
	_, err = c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: aws.String(keys[1])})
	mustOK(t, "DisableKey", err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keys[2]), PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(keys[1]), Plaintext: []byte("x")})
	if apiCode(err) != "DisabledException" {
		t.Fatalf("Encrypt with a disabled key: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, n.URL()+"/", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.BogusOperationName")
	resp, err := http.DefaultClient.Do(req)
	mustOK(t, "unsigned request", err)
	resp.Body.Close()
	const calls = 3 + 1 + 5 + 1 + 1 + 1 + 1 + 1 // every call above, each audited
	mustOK(t, "Snapshot", n.Cluster().Snapshot())

	var s scrapeResult
	testnode.Eventually(t, 20*time.Second, "the audit records are written and fsynced", func() bool {
		s = scrape(t, nil, url)
		rec, _ := s.get("kmsnode_audit_records_total")
		syncs, _ := s.get("kmsnode_audit_fsync_duration_seconds")
		return rec >= calls && syncs > 0
	})

	// Requests by operation and code; latency; in flight; throttling.
	for _, c := range []struct {
		op, code string
		want     float64
	}{
		{"CreateKey", "OK", 3}, {"CreateAlias", "OK", 1}, {"Encrypt", "OK", 5}, {"CreateGrant", "OK", 1},
		{"DisableKey", "OK", 1}, {"ScheduleKeyDeletion", "OK", 1}, {"Encrypt", "DisabledException", 1},
		{"unknown", "MissingAuthenticationTokenException", 1},
	} {
		if got := s.must(t, "kmsnode_requests_total", "operation", c.op, "code", c.code); got != c.want {
			t.Errorf("requests_total{%s,%s} = %v, want %v", c.op, c.code, got, c.want)
		}
	}
	if got := s.must(t, "kmsnode_request_duration_seconds", "operation", "Encrypt"); got != 6 {
		t.Errorf("Encrypt latency samples = %v, want 6", got)
	}
	if sum := s.histogramSum("kmsnode_request_duration_seconds", "operation", "Encrypt"); !(sum > 0 && sum < 60) {
		t.Errorf("Encrypt latency sum = %v s", sum)
	}
	if got := s.must(t, "kmsnode_requests_in_flight"); got != 0 {
		t.Errorf("in flight while idle = %v", got)
	}
	if got := s.must(t, "kmsnode_throttled_requests_total"); got != 0 {
		t.Errorf("throttled = %v without a rate limit", got)
	}

	// Raft and lease of a one-node region; readiness; seal.
	want := map[string]float64{
		"kmsnode_raft_peers": 0, "kmsnode_raft_voters": 1, "kmsnode_raft_nonvoters": 0,
		"kmsnode_raft_last_contact_seconds": 0, "kmsnode_ready": 1, "kmsnode_sealed": 0,
		"kmsnode_lease_duration_seconds": testLease.Seconds(),
	}
	for name, v := range want {
		if got := s.must(t, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	for state, v := range map[string]float64{"Leader": 1, "Follower": 0, "Candidate": 0, "Shutdown": 0} {
		if got := s.must(t, "kmsnode_raft_state", "state", state); got != v {
			t.Errorf("raft_state{%s} = %v, want %v", state, got, v)
		}
	}
	term, commit, applied := s.must(t, "kmsnode_raft_term"), s.must(t, "kmsnode_raft_commit_index"), s.must(t, "kmsnode_raft_applied_index")
	if term < 1 || commit < 7 || applied > commit || s.must(t, "kmsnode_raft_last_log_index") < commit {
		t.Errorf("term %v, commit %v, applied %v", term, commit, applied)
	}
	if age := s.must(t, "kmsnode_lease_age_seconds"); !(age >= 0 && age < testLease.Seconds()) {
		t.Errorf("lease age %v s of a ready node", age)
	}
	if idx, size := s.must(t, "kmsnode_raft_last_snapshot_index"), s.must(t, "kmsnode_raft_last_snapshot_size_bytes"); idx < 7 || size < 1000 {
		t.Errorf("last snapshot: index %v, %v bytes", idx, size)
	}
	if got := s.must(t, "kmsnode_node_info", "node_id", n.Node.Config().NodeID, "node_region", testRegion); got != 1 {
		t.Errorf("node_info = %v", got)
	}

	// The state's counts.
	for state, v := range map[string]float64{"Enabled": 1, "Disabled": 1, "PendingDeletion": 1} {
		if got := s.must(t, "kmsnode_keys", "state", state); got != v {
			t.Errorf("keys{%s} = %v, want %v", state, got, v)
		}
	}
	if a, g := s.must(t, "kmsnode_aliases"), s.must(t, "kmsnode_grants"); a != 1 || g != 1 {
		t.Errorf("aliases %v, grants %v; want 1, 1", a, g)
	}
	s.must(t, "kmsnode_identities")
	s.must(t, "kmsnode_state_count_seconds")

	// The audit sink.
	for name, v := range map[string]float64{"kmsnode_audit_healthy": 1, "kmsnode_audit_failures_total": 0,
		"kmsnode_audit_dropped_records_total": 0} {
		if got := s.must(t, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if w := s.must(t, "kmsnode_audit_write_duration_seconds"); w < 1 {
		t.Errorf("audit writes observed: %v", w)
	}
	s.must(t, "kmsnode_audit_pending_bytes")
	s.must(t, "kmsnode_audit_queued_records")

	// The runtime and process collectors.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if v := s.must(t, name); v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}

	// Nothing a caller chose, and no identifier, is in the output.
	for _, secret := range append(keys, "metrics-secret-name", "grantee-secret-name", "BogusOperationName",
		node.DevAccessKeyID, "kmsnode-dev", "arn:aws") {
		if bytes.Contains(s.body, []byte(secret)) {
			t.Errorf("the scrape contains %q", secret)
		}
	}
	// Every family of ours is documented and typed as its name says.
	for name, f := range s.fams {
		if !strings.HasPrefix(name, "kmsnode_") {
			continue
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		if strings.HasSuffix(name, "_total") != (f.GetType() == dto.MetricType_COUNTER) {
			t.Errorf("%s is a %s", name, f.GetType())
		}
	}
}

// TestMetricsThrottled: calls refused by the rate limit count as
// ThrottlingException and in kmsnode_throttled_requests_total.
func TestMetricsThrottled(t *testing.T) {
	t.Parallel()
	n := start(t, withMetrics, func(c *node.Config) { c.RateLimit, c.RateBurst = 0.01, 2 })
	throttled := 0
	for range 6 {
		_, err := n.Client.GenerateRandom(ctx(t), &awskms.GenerateRandomInput{NumberOfBytes: i32(16)})
		switch code := apiCode(err); {
		case err == nil:
		case code == "ThrottlingException":
			throttled++
		default:
			t.Fatalf("GenerateRandom: %v", err)
		}
	}
	if throttled < 3 {
		t.Fatalf("%d of 6 calls throttled with a burst of 2", throttled)
	}
	s := scrape(t, nil, n.MetricsURL())
	if got := s.must(t, "kmsnode_throttled_requests_total"); got != float64(throttled) {
		t.Errorf("throttled_requests_total = %v, want %d", got, throttled)
	}
	if got := s.must(t, "kmsnode_requests_total", "operation", "GenerateRandom", "code", "ThrottlingException"); got != float64(throttled) {
		t.Errorf("requests_total{GenerateRandom,ThrottlingException} = %v, want %d", got, throttled)
	}
}

// TestMetricsAuditFailure: while the audit log cannot be written the audit
// gauges say so (unhealthy, one failure, records pending in memory), the
// node is not ready and its refusals are counted; after the repair they
// return to healthy with nothing pending.
func TestMetricsAuditFailure(t *testing.T) {
	t.Parallel()
	logDir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := start(t, withMetrics, func(c *node.Config) { c.AuditFile = filepath.Join(logDir, "audit.log") })
	id := newKey(t, n.Client, nil)
	mustOK(t, "Encrypt", tryEncrypt(n.Client, id))
	s := scrape(t, nil, n.MetricsURL())
	if s.must(t, "kmsnode_audit_healthy") != 1 || s.must(t, "kmsnode_audit_failures_total") != 0 {
		t.Fatal("the audit sink is unhealthy before the test breaks it")
	}

	_, repair := breakAuditDir(t, logDir)
	testnode.Eventually(t, 20*time.Second, "the node refuses calls it cannot record", func() bool {
		return tryEncrypt(n.Client, id) != nil
	})
	for range 3 {
		if err := tryEncrypt(n.Client, id); apiCode(err) != "KMSInternalException" {
			t.Fatalf("Encrypt while the audit log is broken: %v", err)
		}
	}
	s = scrape(t, nil, n.MetricsURL())
	if got := s.must(t, "kmsnode_audit_healthy"); got != 0 {
		t.Errorf("audit_healthy while failing = %v", got)
	}
	if got := s.must(t, "kmsnode_audit_failures_total"); got != 1 {
		t.Errorf("audit_failures_total = %v, want 1", got)
	}
	if got := s.must(t, "kmsnode_ready"); got != 0 {
		t.Errorf("ready while the audit log fails = %v", got)
	}
	if got := s.must(t, "kmsnode_requests_total", "operation", "Encrypt", "code", "KMSInternalException"); got < 3 {
		t.Errorf("refused Encrypts counted: %v", got)
	}
	testnode.Eventually(t, 10*time.Second, "the refused calls' records wait in memory", func() bool {
		v, _ := scrape(t, nil, n.MetricsURL()).get("kmsnode_audit_pending_bytes")
		return v > 0
	})

	repair()
	testnode.Eventually(t, 20*time.Second, "the audit gauges recover", func() bool {
		s = scrape(t, nil, n.MetricsURL())
		h, _ := s.get("kmsnode_audit_healthy")
		p, _ := s.get("kmsnode_audit_pending_bytes")
		r, _ := s.get("kmsnode_ready")
		return h == 1 && p == 0 && r == 1
	})
	if got := s.must(t, "kmsnode_audit_failures_total"); got != 1 {
		t.Errorf("audit_failures_total after one outage = %v", got)
	}
	if got := s.must(t, "kmsnode_audit_dropped_records_total"); got != 0 {
		t.Errorf("dropped = %v", got)
	}
}

// TestMetricsListener: off by default; refused off loopback unless allowed;
// over HTTPS with the API's certificate and client-certificate requirement
// when the API has TLS.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		n := start(t)
		if u := n.MetricsURL(); u != "" {
			t.Errorf("MetricsURL %q without MetricsAddr", u)
		}
		resp, err := http.Get(n.URL() + "/metrics")
		mustOK(t, "GET /metrics on the API port", err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the API port serves /metrics")
		}
	})
	t.Run("remote refused", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t.TempDir())
		cfg.MetricsAddr = "0.0.0.0:0"
		n, err := node.Start(ctx(t), cfg)
		if err == nil {
			n.Close()
			t.Fatal("a non-loopback metrics address was accepted without MetricsAllowRemote")
		}
		if !strings.Contains(err.Error(), "--metrics-allow-remote") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("remote allowed", func(t *testing.T) {
		t.Parallel()
		n := start(t, func(c *node.Config) { c.MetricsAddr, c.MetricsAllowRemote = "0.0.0.0:0", true })
		url := strings.Replace(n.MetricsURL(), "0.0.0.0", "127.0.0.1", 1)
		url = strings.Replace(url, "[::]", "127.0.0.1", 1)
		scrape(t, nil, url).must(t, "kmsnode_ready")
	})
	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ca := newTestCA(t, "metrics test CA")
		certPEM, keyPEM := ca.issue(t, 7, time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth)
		writeFile(t, filepath.Join(dir, "cert.pem"), certPEM)
		writeFile(t, filepath.Join(dir, "key.pem"), keyPEM)
		clientPEM, clientKey := ca.issue(t, 8, time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth)
		writeFile(t, filepath.Join(dir, "client-ca.pem"), ca.pem)
		n := start(t, withMetrics, func(c *node.Config) {
			c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			c.TLSClientCAFile = filepath.Join(dir, "client-ca.pem")
		})
		url := n.MetricsURL()
		if !strings.HasPrefix(url, "https://127.0.0.1:") {
			t.Fatalf("MetricsURL %q with API TLS", url)
		}
		if resp, err := http.Get(strings.Replace(url, "https", "http", 1)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Error("plain HTTP scrape of a TLS metrics listener succeeded")
			}
		}
		noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootsOf(ca)}}}
		if resp, err := noCert.Get(url); err == nil {
			resp.Body.Close()
			t.Fatal("a scrape without a client certificate succeeded though the API requires one")
		}
		pair, err := tls.X509KeyPair(clientPEM, clientKey)
		mustOK(t, "client pair", err)
		withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootsOf(ca), Certificates: []tls.Certificate{pair}}}}
		scrape(t, withCert, url).must(t, "kmsnode_ready")
	})
}
