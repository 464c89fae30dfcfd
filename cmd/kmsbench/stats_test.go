package main

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestQuantileNearestRank(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      int
		want   time.Duration
	}{
		{"empty", nil, q50, 0},
		{"one value p50", durations(7), q50, 7 * time.Millisecond},
		{"one value p99.9", durations(7), q999, 7 * time.Millisecond},
		{"1000 p50", seq(1000), q50, 500 * time.Millisecond},
		{"1000 p99", seq(1000), q99, 990 * time.Millisecond},
		// 0.999·1000 is exactly 999: integer arithmetic must not round it up to 1000.
		{"1000 p99.9", seq(1000), q999, 999 * time.Millisecond},
		{"1000 max", seq(1000), qMax, 1000 * time.Millisecond},
		{"1001 p50", seq(1001), q50, 501 * time.Millisecond},
		{"10 p50", seq(10), q50, 5 * time.Millisecond},
		{"10 p99 is the max", seq(10), q99, 10 * time.Millisecond},
		{"100 p99", seq(100), q99, 99 * time.Millisecond},
		{"100 p99.9 is the max", seq(100), q999, 100 * time.Millisecond},
		{"10000 p99.9", seq(10000), q999, 9990 * time.Millisecond},
		{"2 p50 is the lower", seq(2), q50, 1 * time.Millisecond},
		{"tiny q is the min", seq(50), 1, 1 * time.Millisecond},
	} {
		if got := quantile(tc.sorted, tc.q); got != tc.want {
			t.Errorf("%s: quantile(q=%d) = %v, want %v", tc.name, tc.q, got, tc.want)
		}
	}
}

// The definition itself: the smallest value with at least q of all values
// at or below it, checked by counting on every size up to 300.
func TestQuantileDefinition(t *testing.T) {
	for n := 1; n <= 300; n++ {
		s := seq(n)
		for _, q := range []int{q50, q99, q999, qMax, 2500, 7500} {
			got := quantile(s, q)
			atOrBelow := int(got / time.Millisecond)
			if atOrBelow*qMax < q*n {
				t.Fatalf("n=%d q=%d: %v has only %d of %d at or below", n, q, got, atOrBelow, n)
			}
			if atOrBelow > 1 && (atOrBelow-1)*qMax >= q*n {
				t.Fatalf("n=%d q=%d: %v is not the smallest such value", n, q, got)
			}
		}
	}
}

func TestMergeAndSummarize(t *testing.T) {
	all := seq(1000)
	shuffled := slices.Clone(all)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// Three workers of uneven sizes, one of them idle.
	workers := [][]time.Duration{shuffled[:100], nil, shuffled[100:700], shuffled[700:]}
	merged := mergeLatencies(workers)
	if !slices.Equal(merged, all) {
		t.Fatal("merge did not give every latency once, sorted")
	}
	s := summarize(merged)
	want := latencySummary{N: 1000, Mean: 500500 * time.Microsecond, P50: 500 * time.Millisecond,
		P99: 990 * time.Millisecond, P999: 999 * time.Millisecond, Max: 1000 * time.Millisecond}
	if s != want {
		t.Errorf("summarize = %+v, want %+v", s, want)
	}
	if s := summarize(nil); s != (latencySummary{}) {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

func TestMedian(t *testing.T) {
	in := []float64{5, 1, 3}
	if m := median(in); m != 3 {
		t.Errorf("median odd = %v", m)
	}
	if !slices.Equal(in, []float64{5, 1, 3}) {
		t.Error("median changed its input")
	}
	if m := median([]float64{4, 1, 3, 10}); m != 3.5 {
		t.Errorf("median even = %v", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median empty = %v", m)
	}
}

func TestScheduleAlternates(t *testing.T) {
	// Baseline (0) and kmsnode (1), three repetitions: B K, K B, B K.
	got := schedule(3, 2)
	want := []slot{{0, 0}, {0, 1}, {1, 1}, {1, 0}, {2, 0}, {2, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schedule(3, 2) = %v, want %v", got, want)
	}
	// No baseline: the one target, repeat times.
	if got, want := schedule(3, 1), []slot{{0, 0}, {1, 0}, {2, 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("schedule(3, 1) = %v, want %v", got, want)
	}
	// Three targets (a 3-node region later): the order reverses every repetition.
	if got, want := schedule(2, 3), []slot{{0, 0}, {0, 1}, {0, 2}, {1, 2}, {1, 1}, {1, 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("schedule(2, 3) = %v, want %v", got, want)
	}
}

func TestScheduleProperties(t *testing.T) {
	for repeat := 1; repeat <= 6; repeat++ {
		for targets := 1; targets <= 3; targets++ {
			s := schedule(repeat, targets)
			if len(s) != repeat*targets {
				t.Fatalf("schedule(%d, %d) has %d runs", repeat, targets, len(s))
			}
			posSum := make([]int, targets)
			for i, sl := range s {
				// Repetitions do not interleave; each runs every target once.
				if sl.Rep != i/targets {
					t.Fatalf("schedule(%d, %d)[%d] = %v: repetitions interleave", repeat, targets, i, sl)
				}
				posSum[sl.Target] += i
			}
			for r := range repeat {
				var seen []int
				for _, sl := range s[r*targets : (r+1)*targets] {
					seen = append(seen, sl.Target)
				}
				slices.Sort(seen)
				for i, v := range seen {
					if v != i {
						t.Fatalf("schedule(%d, %d): repetition %d runs targets %v", repeat, targets, r, seen)
					}
				}
			}
			// With an even number of repetitions every target sits at the same
			// mean position, so a linear drift hits all alike.
			if repeat%2 == 0 {
				for i := range posSum {
					if posSum[i] != posSum[0] {
						t.Errorf("schedule(%d, %d): position sums %v differ", repeat, targets, posSum)
					}
				}
			}
			// Consecutive runs of a repetition pair kmsnode with the baseline.
			if targets == 2 {
				for r := range repeat {
					a, b := s[2*r], s[2*r+1]
					if a.Target == b.Target {
						t.Errorf("schedule(%d, 2): repetition %d is not a baseline/kmsnode pair", repeat, r)
					}
				}
			}
		}
	}
}

func TestRatiosArePairedByRepetition(t *testing.T) {
	run := func(rep int, ops, p99 float64) *runResult {
		return &runResult{Rep: rep, figures: figures{OpsPerSec: ops, P99Ms: p99, P50Ms: 1, P999Ms: 1}}
	}
	// The machine slows down over the repetitions; each kmsnode run is half
	// of the baseline measured next to it.
	base := &targetCell{Target: "baseline", Runs: []*runResult{run(1, 1000, 1), run(2, 100, 10), run(3, 400, 4)}}
	node := &targetCell{Target: "kmsnode", Runs: []*runResult{run(1, 500, 2), run(2, 50, 20), run(3, 200, 8)}}
	base.finish(base)
	node.finish(base)
	if base.Ratio != nil {
		t.Error("the baseline has a ratio to itself")
	}
	if base.Median.OpsPerSec != 400 || node.Median.OpsPerSec != 200 {
		t.Errorf("medians %v, %v", base.Median.OpsPerSec, node.Median.OpsPerSec)
	}
	if r := node.Ratio; r == nil || *r.OpsPerSec != 0.5 || *r.P99 != 2 {
		t.Fatalf("ratio %+v, want ops 0.5 and p99 2", r)
	}
	for _, r := range node.Runs {
		if *r.Ratio.OpsPerSec != 0.5 {
			t.Errorf("rep %d ratio %v", r.Rep, *r.Ratio.OpsPerSec)
		}
	}

	// A baseline run that measured nothing gives no ratio rather than +Inf.
	zero := &targetCell{Target: "baseline", Runs: []*runResult{run(1, 0, 0)}}
	one := &targetCell{Target: "kmsnode", Runs: []*runResult{run(1, 10, 1)}}
	zero.finish(zero)
	one.finish(zero)
	if one.Ratio.OpsPerSec != nil || one.Ratio.P99 != nil {
		t.Errorf("ratio to an empty baseline: %+v", one.Ratio)
	}
}

func TestErrorCounts(t *testing.T) {
	a := errorCounts{}
	a.add("HTTP 400 ValidationException", "first", 1)
	a.add("HTTP 400 ValidationException", "second", 2)
	b := errorCounts{}
	b.add("transport: timeout", "t", 5)
	b.add("HTTP 400 ValidationException", "third", 1)
	a.merge(b)
	got := a.sorted()
	want := []errorCount{
		{Type: "transport: timeout", Count: 5, Sample: "t"},
		{Type: "HTTP 400 ValidationException", Count: 4, Sample: "first"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sorted = %+v, want %+v", got, want)
	}
	if a.total() != 9 {
		t.Errorf("total %d", a.total())
	}
}

func TestSecretIsNeverAFlag(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cret"}
	getenv := func(k string) string { return env[k] }
	if _, err := parseFlags([]string{"--secret-access-key", "x"}, getenv, discard{}); err == nil {
		t.Error("a --secret-access-key flag was accepted")
	}
	c, err := parseFlags([]string{"--ops", "encrypt32,Decrypt", "--concurrency", "1,8"}, getenv, discard{})
	if err != nil {
		t.Fatal(err)
	}
	if c.secret != "s3cret" || c.AccessKeyID != "AKID" {
		t.Errorf("credentials %q %q", c.AccessKeyID, c.secret)
	}
	if !slices.Equal(c.Ops, []string{"Encrypt32", "Decrypt"}) || !slices.Equal(c.Concurrency, []int{1, 8}) {
		t.Errorf("ops %v concurrency %v", c.Ops, c.Concurrency)
	}
	delete(env, "AWS_SECRET_ACCESS_KEY")
	if _, err := parseFlags(nil, getenv, discard{}); err == nil {
		t.Error("no secret was accepted")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
