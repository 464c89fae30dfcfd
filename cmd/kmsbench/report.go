package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// reportFormat is bumped when a field of the JSON output changes meaning.
// 2: "endpoint" of the config and of a target may be a comma-separated list
// (a region's nodes), also given as the list "endpoints".
const reportFormat = 2

// report is everything a benchmark invocation measured; it is what --json
// writes, and what a later chart or comparison tool reads.
type report struct {
	Tool     string    `json:"tool"`
	Format   int       `json:"format"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Machine  machine   `json:"machine"`
	Config   config    `json:"config"`
	Fixture  *fixture  `json:"fixture,omitempty"`
	Targets  []*target `json:"targets"`
	Cells    []*cell   `json:"cells"`
}

type machine struct {
	Hostname  string `json:"hostname,omitempty"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	GoVersion string `json:"go_version"` // of kmsbench
	Note      string `json:"note"`
}

// cell is one (operation, concurrency) pair and its runs on every target.
type cell struct {
	Op          string        `json:"op"`
	API         string        `json:"api"`
	Concurrency int           `json:"concurrency"`
	Targets     []*targetCell `json:"targets"`
}

// targetCell is one target's runs in a cell, and their medians.
type targetCell struct {
	Target string       `json:"target"`
	Median figures      `json:"median"`
	Ratio  *ratios      `json:"ratio_to_baseline,omitempty"` // median of the per-repetition ratios
	Errors []errorCount `json:"errors"`                      // over all runs
	Runs   []*runResult `json:"runs"`
}

// figures are the numbers reported for a run, or their medians for a cell.
type figures struct {
	OpsPerSec float64 `json:"ops_per_sec"`
	MeanMs    float64 `json:"mean_ms"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
	MaxMs     float64 `json:"max_ms"`
	Errors    int64   `json:"errors"` // a sum over the runs for a median
	// CPUUsPerOp is the server's CPU time in the window (all its processes
	// with --pid / --baseline-pid) per successful request, in µs; 0 when
	// not measured.
	CPUUsPerOp float64 `json:"cpu_us_per_op,omitempty"`
}

// ratios are kmsnode's figures divided by the baseline's; nil where the
// baseline measured nothing.
type ratios struct {
	OpsPerSec *float64 `json:"ops_per_sec"`
	P50       *float64 `json:"p50"`
	P99       *float64 `json:"p99"`
	P999      *float64 `json:"p999"`
	CPUPerOp  *float64 `json:"cpu_per_op,omitempty"` // server CPU µs per request
}

type runResult struct {
	Rep      int       `json:"rep"`      // repetition, from 1
	Seq      int       `json:"seq"`      // position in the cell's schedule, from 1
	Started  time.Time `json:"started"`  // including the warm-up
	Requests int64     `json:"requests"` // successful, in the window
	Seconds  float64   `json:"seconds"`  // length of the window
	figures
	ErrorTypes []errorCount `json:"error_types,omitempty"`
	Ratio      *ratios      `json:"ratio_to_baseline,omitempty"`
}

func newRunResult(rep, seq int, started time.Time, s runStats) *runResult {
	l := summarize(s.Latencies)
	r := &runResult{Rep: rep, Seq: seq, Started: started, Requests: int64(l.N), Seconds: s.Elapsed.Seconds()}
	if r.Seconds > 0 {
		r.OpsPerSec = float64(l.N) / r.Seconds
	}
	r.MeanMs, r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs = ms(l.Mean), ms(l.P50), ms(l.P99), ms(l.P999), ms(l.Max)
	r.Errors = s.Errors.total()
	r.ErrorTypes = s.Errors.sorted()
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratioOf returns a/b, or nil when b is not positive.
func ratioOf(a, b float64) *float64 {
	if b <= 0 {
		return nil
	}
	r := a / b
	return &r
}

func runRatios(n, b *runResult) *ratios {
	return &ratios{
		OpsPerSec: ratioOf(n.OpsPerSec, b.OpsPerSec),
		P50:       ratioOf(n.P50Ms, b.P50Ms),
		P99:       ratioOf(n.P99Ms, b.P99Ms),
		P999:      ratioOf(n.P999Ms, b.P999Ms),
		CPUPerOp:  ratioOf(n.CPUUsPerOp, b.CPUUsPerOp),
	}
}

// finish computes the medians of tc's runs and, when base is the baseline's
// cell, the per-repetition ratios and their medians.
func (tc *targetCell) finish(base *targetCell) {
	pick := func(f func(*runResult) float64) float64 {
		xs := make([]float64, len(tc.Runs))
		for i, r := range tc.Runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	tc.Median = figures{
		OpsPerSec:  pick(func(r *runResult) float64 { return r.OpsPerSec }),
		MeanMs:     pick(func(r *runResult) float64 { return r.MeanMs }),
		P50Ms:      pick(func(r *runResult) float64 { return r.P50Ms }),
		P99Ms:      pick(func(r *runResult) float64 { return r.P99Ms }),
		P999Ms:     pick(func(r *runResult) float64 { return r.P999Ms }),
		MaxMs:      pick(func(r *runResult) float64 { return r.MaxMs }),
		CPUUsPerOp: pick(func(r *runResult) float64 { return r.CPUUsPerOp }),
	}
	all := errorCounts{}
	for _, r := range tc.Runs {
		tc.Median.Errors += r.Errors
		for _, e := range r.ErrorTypes {
			all.add(e.Type, e.Sample, e.Count)
		}
	}
	tc.Errors = all.sorted()
	if base == nil || base == tc {
		return
	}
	byRep := map[int]*runResult{}
	for _, r := range base.Runs {
		byRep[r.Rep] = r
	}
	var ops, p50, p99, p999, cpu []float64
	for _, r := range tc.Runs {
		b, ok := byRep[r.Rep]
		if !ok {
			continue
		}
		r.Ratio = runRatios(r, b)
		for _, p := range []struct {
			v   *float64
			dst *[]float64
		}{{r.Ratio.OpsPerSec, &ops}, {r.Ratio.P50, &p50}, {r.Ratio.P99, &p99}, {r.Ratio.P999, &p999}, {r.Ratio.CPUPerOp, &cpu}} {
			if p.v != nil {
				*p.dst = append(*p.dst, *p.v)
			}
		}
	}
	med := func(xs []float64) *float64 {
		if len(xs) == 0 {
			return nil
		}
		m := median(xs)
		return &m
	}
	tc.Ratio = &ratios{OpsPerSec: med(ops), P50: med(p50), P99: med(p99), P999: med(p999), CPUPerOp: med(cpu)}
}

func currentMachine() machine {
	m := machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Note: "load generator and servers share these CPUs"}
	m.Hostname, _ = os.Hostname()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// writeTable prints the medians: one row per operation, concurrency and
// non-baseline target, then the failures.
func writeTable(w io.Writer, rep *report) {
	c := rep.Config
	fmt.Fprintf(w, "kmsbench: %d CPUs shared by client and servers (%s); each cell: median of %d run(s) of %s after %s warm-up\n",
		rep.Machine.CPUs, rep.Machine.CPUModel, c.Repeat, c.Duration, c.Warmup)
	for _, t := range rep.Targets {
		if len(t.Endpoints) > 1 {
			fmt.Fprintf(w, "  %-9s %s (%d endpoints: worker i sends to endpoint i mod %d)\n",
				t.Name, strings.Join(t.Endpoints, " "), len(t.Endpoints), len(t.Endpoints))
			continue
		}
		fmt.Fprintf(w, "  %-9s %s\n", t.Name, t.Endpoint)
	}
	fmt.Fprintln(w)
	multi := 0
	for _, t := range rep.Targets {
		if !t.Baseline {
			multi++
		}
	}
	const row = "%-16s %4s %12s %13s %6s %8s %8s %9s %8s %7s%s\n"
	cpuCols := len(c.pids) > 0
	cpuHead := ""
	if cpuCols {
		cpuHead = fmt.Sprintf(" %12s %12s %8s", "base cpu µs", "node cpu µs", "cpu/base")
	}
	fmt.Fprintf(w, row, "op", "conc", "base ops/s", "kmsnode ops/s", "ratio", "p50 ms", "p99 ms", "p99.9 ms", "p99/base", "errors", cpuHead)
	var failed []string
	for _, cl := range rep.Cells {
		var base *targetCell
		for _, tc := range cl.Targets {
			if tc.Target == rep.baselineName() {
				base = tc
			}
		}
		for _, tc := range cl.Targets {
			if len(tc.Errors) > 0 {
				for _, e := range tc.Errors {
					failed = append(failed, fmt.Sprintf("  %s c=%d %s: %s ×%d (e.g. %s)",
						cl.Op, cl.Concurrency, tc.Target, e.Type, e.Count, e.Sample))
				}
			}
			if tc == base {
				continue
			}
			name := cl.Op
			if multi > 1 {
				name += " " + tc.Target
			}
			baseOps, ratio, p99r := "-", "-", "-"
			if base != nil {
				baseOps = fmtOps(base.Median.OpsPerSec)
			}
			if tc.Ratio != nil {
				ratio, p99r = fmtRatio(tc.Ratio.OpsPerSec), fmtRatio(tc.Ratio.P99)
			}
			m := tc.Median
			cpuVals := ""
			if cpuCols {
				baseCPU, cpuR := "-", "-"
				if base != nil && base.Median.CPUUsPerOp > 0 {
					baseCPU = strconv.FormatFloat(base.Median.CPUUsPerOp, 'f', 1, 64)
				}
				if tc.Ratio != nil {
					cpuR = fmtRatio(tc.Ratio.CPUPerOp)
				}
				cpuVals = fmt.Sprintf(" %12s %12s %8s", baseCPU, strconv.FormatFloat(m.CPUUsPerOp, 'f', 1, 64), cpuR)
			}
			fmt.Fprintf(w, row, name, strconv.Itoa(cl.Concurrency), baseOps, fmtOps(m.OpsPerSec), ratio,
				fmtMs(m.P50Ms), fmtMs(m.P99Ms), fmtMs(m.P999Ms), p99r, strconv.FormatInt(m.Errors, 10), cpuVals)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ratio: kmsnode ops/s ÷ baseline ops/s (1.00 = as fast as a handler that does nothing); p99/base: kmsnode p99 ÷ baseline p99.")
	fmt.Fprintln(w, "Both are medians of per-repetition ratios. Latencies are kmsnode's, successful requests only; errors: failed requests over all runs.")
	if cpuCols {
		fmt.Fprintln(w, "cpu µs: server CPU time (user+system, /proc/<pid>/stat) per successful request in the window; cpu/base: kmsnode's ÷ the baseline's,")
		fmt.Fprintln(w, "the work a kmsnode request costs relative to the HTTP stack's minimum (less sensitive to other load on the machine than ops/s).")
	}
	if len(failed) > 0 {
		fmt.Fprintln(w, "\nFailed requests:")
		for _, f := range failed {
			fmt.Fprintln(w, f)
		}
	}
}

func (r *report) baselineName() string {
	for _, t := range r.Targets {
		if t.Baseline {
			return t.Name
		}
	}
	return ""
}

func fmtOps(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func fmtRatio(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', 2, 64)
}

func fmtMs(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeCSV writes one row per run and one "median" row per cell and target.
func writeCSV(path string, rep *report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"op", "api", "concurrency", "target", "rep", "ops_per_sec", "mean_ms", "p50_ms", "p99_ms",
		"p999_ms", "max_ms", "errors", "ratio_ops_per_sec", "ratio_p50", "ratio_p99", "ratio_p999"})
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	opt := func(v *float64) string {
		if v == nil {
			return ""
		}
		return num(*v)
	}
	line := func(cl *cell, target, rep string, fg figures, r *ratios) {
		rec := []string{cl.Op, cl.API, strconv.Itoa(cl.Concurrency), target, rep, num(fg.OpsPerSec), num(fg.MeanMs),
			num(fg.P50Ms), num(fg.P99Ms), num(fg.P999Ms), num(fg.MaxMs), strconv.FormatInt(fg.Errors, 10)}
		if r == nil {
			r = &ratios{}
		}
		rec = append(rec, opt(r.OpsPerSec), opt(r.P50), opt(r.P99), opt(r.P999))
		_ = w.Write(rec)
	}
	for _, cl := range rep.Cells {
		for _, tc := range cl.Targets {
			for _, r := range tc.Runs {
				line(cl, tc.Target, strconv.Itoa(r.Rep), r.figures, r.Ratio)
			}
			line(cl, tc.Target, "median", tc.Median, tc.Ratio)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
