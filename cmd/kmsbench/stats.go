package main

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Quantiles in parts per ten thousand, so that rank arithmetic stays in
// integers (0.999 is not exact in floating point).
const (
	q50  = 5000
	q99  = 9900
	q999 = 9990
	qMax = 10000
)

// quantile returns the nearest-rank quantile q (parts per 10,000, 1–10000)
// of sorted: the smallest value such that at least q/10000 of all values are
// at or below it. It returns 0 for an empty slice.
func quantile(sorted []time.Duration, q int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (q*n + qMax - 1) / qMax // ceil(q·n / 10000)
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// latencySummary holds the figures the report gives for one run.
type latencySummary struct {
	N    int
	Mean time.Duration
	P50  time.Duration
	P99  time.Duration
	P999 time.Duration
	Max  time.Duration
}

// mergeLatencies concatenates the workers' latencies and sorts them.
func mergeLatencies(perWorker [][]time.Duration) []time.Duration {
	n := 0
	for _, l := range perWorker {
		n += len(l)
	}
	all := make([]time.Duration, 0, n)
	for _, l := range perWorker {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

// summarize computes the exact percentiles of sorted latencies.
func summarize(sorted []time.Duration) latencySummary {
	s := latencySummary{N: len(sorted)}
	if s.N == 0 {
		return s
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	s.Mean = sum / time.Duration(s.N)
	s.P50 = quantile(sorted, q50)
	s.P99 = quantile(sorted, q99)
	s.P999 = quantile(sorted, q999)
	s.Max = sorted[s.N-1]
	return s
}

// median returns the median of xs (the mean of the two middle values for an
// even count) without changing xs; 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// slot is one run in a cell's schedule: repetition rep of target index.
type slot struct {
	Rep    int
	Target int
}

// schedule is the order in which a cell runs its targets: every repetition
// runs each target once, and the order flips from one repetition to the
// next (0 1, 1 0, 0 1, … for two targets). Each target's runs then sit at
// the same mean position, so a linear drift of the machine (thermal, a
// neighbour's load, a growing data directory) hits all targets alike, and
// within a repetition every target is measured right next to the baseline
// (index 0).
func schedule(repeat, targets int) []slot {
	out := make([]slot, 0, repeat*targets)
	for r := range repeat {
		for i := range targets {
			t := i
			if r%2 == 1 {
				t = targets - 1 - i
			}
			out = append(out, slot{Rep: r, Target: t})
		}
	}
	return out
}

// errorCount is how often one kind of failure happened, with the first
// message seen for it.
type errorCount struct {
	Type   string `json:"type"`
	Count  int64  `json:"count"`
	Sample string `json:"sample,omitempty"`
}

// errorCounts maps a failure type ("HTTP 400 ValidationException",
// "transport: connection refused") to its count.
type errorCounts map[string]*errorCount

func (e errorCounts) add(typ, sample string, n int64) {
	if c, ok := e[typ]; ok {
		c.Count += n
		return
	}
	e[typ] = &errorCount{Type: typ, Count: n, Sample: sample}
}

func (e errorCounts) merge(o errorCounts) {
	for _, k := range slices.Sorted(maps.Keys(o)) {
		e.add(k, o[k].Sample, o[k].Count)
	}
}

func (e errorCounts) total() int64 {
	var n int64
	for _, c := range e {
		n += c.Count
	}
	return n
}

// sorted lists the failures, most frequent first.
func (e errorCounts) sorted() []errorCount {
	out := make([]errorCount, 0, len(e))
	for _, c := range e {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b errorCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Type, b.Type)
	})
	return out
}
