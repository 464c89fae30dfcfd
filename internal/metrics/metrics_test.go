package metrics_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	dto "github.com/prometheus/client_model/go"

	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/internal/metrics"
)

// gather returns the registry's families by name.
func gather(t testing.TB, r *metrics.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func labelsOf(m *dto.Metric) string {
	var parts []string
	for _, l := range m.Label {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

// TestRequests: calls are counted by operation and code, timed by
// operation, in flight between Start and Done, and throttled ones are
// counted apart too.
func TestRequests(t *testing.T) {
	r := metrics.New(metrics.Sources{})
	req := r.Requests()
	req.Start()
	req.Start()
	req.Done("Encrypt", metrics.CodeOK, 2*time.Millisecond)
	if v := gather(t, r)["kmsnode_requests_in_flight"].Metric[0].Gauge.GetValue(); v != 1 {
		t.Errorf("in flight = %v, want 1", v)
	}
	req.Done("Encrypt", "NotFoundException", 300*time.Microsecond)
	for range 3 {
		req.Start()
		req.Done("GenerateRandom", "ThrottlingException", 50*time.Microsecond)
	}
	fams := gather(t, r)
	got := map[string]float64{}
	for _, m := range fams["kmsnode_requests_total"].Metric {
		got[labelsOf(m)] = m.Counter.GetValue()
	}
	want := map[string]float64{
		"code=OK,operation=Encrypt": 1, "code=NotFoundException,operation=Encrypt": 1,
		"code=OK,operation=GenerateRandom": 0, "code=ThrottlingException,operation=GenerateRandom": 3,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests_total = %v, want %v", got, want)
	}
	if v := fams["kmsnode_throttled_requests_total"].Metric[0].Counter.GetValue(); v != 3 {
		t.Errorf("throttled = %v", v)
	}
	if v := fams["kmsnode_requests_in_flight"].Metric[0].Gauge.GetValue(); v != 0 {
		t.Errorf("in flight = %v after every Done", v)
	}
	for _, m := range fams["kmsnode_request_duration_seconds"].Metric {
		h := m.Histogram
		if labelsOf(m) == "operation=Encrypt" {
			if h.GetSampleCount() != 2 || h.GetSampleSum() < 0.0023 || h.GetSampleSum() > 0.0024 {
				t.Errorf("Encrypt latency: %d samples, sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
			// 300 µs falls in the 0.5 ms bucket, not the 0.25 ms one.
			for _, b := range h.Bucket {
				if b.GetUpperBound() == 0.00025 && b.GetCumulativeCount() != 0 || b.GetUpperBound() == 0.0005 && b.GetCumulativeCount() != 1 {
					t.Errorf("bucket %v: %d", b.GetUpperBound(), b.GetCumulativeCount())
				}
			}
		}
	}
	// The runtime and process collectors are there; no state collectors
	// without sources.
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "kmsnode_node_info"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	for _, name := range []string{"kmsnode_raft_term", "kmsnode_keys", "kmsnode_audit_healthy"} {
		if fams[name] != nil {
			t.Errorf("%s without its source", name)
		}
	}
}

// fillFSM applies n CreateKey commands (every 10th key disabled, every
// 100th with two grants) and n/10 aliases to a new FSM.
func fillFSM(t testing.TB, n int) *fsm.FSM {
	t.Helper()
	f := fsm.New()
	idx := uint64(0)
	apply := func(c fsm.Command) {
		data, err := fsm.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		idx++
		if res := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}); res != nil {
			t.Fatalf("apply: %v", res)
		}
	}
	at := time.Now().UnixMilli()
	for i := range n {
		k := fsm.Key{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), CreatedAt: at, Usage: "ENCRYPT_DECRYPT",
			Spec: "SYMMETRIC_DEFAULT", Origin: "AWS_KMS", Manager: "CUSTOMER", State: fsm.StateEnabled,
			Policy:    `{"Version":"2012-10-17","Statement":[]}`,
			Materials: []fsm.Material{{Version: 1, Sealed: make([]byte, 76), CreatedAt: at}}}
		if i%10 == 0 {
			k.State = fsm.StateDisabled
		}
		if i%100 == 0 {
			k.Grants = []fsm.Grant{{ID: fmt.Sprintf("g1-%d", i)}, {ID: fmt.Sprintf("g2-%d", i)}}
		}
		apply(&fsm.CreateKey{Req: fsm.Req{At: at}, Key: k})
		if i%10 == 1 {
			apply(&fsm.CreateAlias{Req: fsm.Req{At: at}, Name: fmt.Sprintf("alias/a%d", i), KeyID: k.ID})
		}
	}
	return f
}

// TestCountState: the walk in pages counts every key by state, every
// alias and grant, across page boundaries.
func TestCountState(t *testing.T) {
	f := fillFSM(t, 2500)
	c := metrics.CountState(f)
	if c.Keys[fsm.StateEnabled] != 2250 || c.Keys[fsm.StateDisabled] != 250 || c.Aliases != 250 || c.Grants != 50 {
		t.Errorf("counts %+v", c)
	}
}

// BenchmarkRequests is what the instrumentation adds to one API call:
// Start and Done of an Encrypt, from parallel callers.
func BenchmarkRequests(b *testing.B) {
	req := metrics.New(metrics.Sources{}).Requests()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req.Start()
			req.Done("Encrypt", metrics.CodeOK, 40*time.Microsecond)
		}
	})
}

// BenchmarkCountState100k is the cost of one count of a state of 100 000
// keys, paid at most every StateCountInterval however often the node is
// scraped.
func BenchmarkCountState100k(b *testing.B) {
	f := fillFSM(b, 100_000)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if c := metrics.CountState(f); c.Keys[fsm.StateEnabled] != 90_000 {
			b.Fatalf("counts %+v", c)
		}
	}
	// The machine is shared: CPU time (GC included) says more than wall time.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScrape100k is a whole scrape (every collector, the text
// encoding) of a registry over a state of 100 000 keys whose counts are
// cached, as they are between two changes.
func BenchmarkScrape100k(b *testing.B) {
	f := fillFSM(b, 100_000)
	r := metrics.New(metrics.Sources{FSM: f})
	for range 100 {
		r.Requests().Done("Encrypt", metrics.CodeOK, time.Millisecond)
	}
	if _, err := r.Gatherer().Gather(); err != nil { // counts the state once
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := r.Gatherer().Gather(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
}
