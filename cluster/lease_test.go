package cluster_test

import (
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/fsm"
)

// With Δ = 300 ms the lease loop renews every Δ/4; on a healthy single voter
// the lease must never lapse. Sample ReadReady every millisecond for two
// seconds (≈ 6.7 lease lifetimes, so validity at the end can only come from
// renewals) and tolerate no failed sample.
//
// Not parallel: Go runs it before the parallel tests start, so the 2-CPU
// test machine is not shared with other clusters' fsyncs while it samples.
func TestLeaseStaysValidWhileLeading(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	c := openReady(t, cfg, fsm.New())

	const window = 2 * time.Second
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var samples, failures int
	var firstFailure time.Duration
	minRem := cfg.Lease
	start := time.Now()
	for time.Since(start) < window {
		samples++
		if err := c.ReadReady(); err != nil {
			if failures == 0 {
				firstFailure = time.Since(start)
			}
			failures++
		}
		rem := c.LeaseRemaining()
		if rem > cfg.Lease {
			t.Fatalf("LeaseRemaining = %v > Δ = %v", rem, cfg.Lease)
		}
		minRem = min(minRem, rem)
		<-tick.C
	}
	t.Logf("%d samples over %v; lowest LeaseRemaining %v", samples, window, minRem)
	if failures > 0 {
		t.Errorf("ReadReady failed in %d of %d samples (first after %v); want 0", failures, samples, firstFailure)
	}
	if samples < 100 {
		t.Errorf("only %d samples in %v; the sampler starved", samples, window)
	}
}
