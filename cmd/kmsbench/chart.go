package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// The chart is a PNG a person looks at, drawn from reports: the one a run
// has just measured (--png) or reports written earlier by --json (the
// chart subcommand). This file turns reports into rows and header text;
// chart_draw.go lays them out and paints them.

// maxChartRows bounds the image: a report is a handful of cells, and a
// file with thousands of them (or a hostile one) must not make kmsbench
// allocate a picture of gigabytes.
const maxChartRows = 100

// chartSource is one report and the name it goes by on the chart: its file
// name, or "" for the report of the run that draws it.
type chartSource struct {
	Name string
	Rep  *report
}

// chartRow is one bar group: a non-baseline target in one cell.
type chartRow struct {
	Op     string
	Conc   int
	Target string   // only when a report has several non-baseline targets
	Base   *figures // nil without a baseline
	Node   figures
	Ratio  *float64 // ops/s ratio to the baseline, as in the table
	P99    *float64 // p99 ratio to the baseline
	Errors int64
}

// chartSection is the rows of one report; its header names the file when
// the chart has several.
type chartSection struct {
	Header string
	Rows   []chartRow
}

type chartData struct {
	Title    string
	Lines    []string // under the title: machine, date, runs
	Sections []chartSection
	Headers  bool // draw the section headers (several reports)
}

func (cd *chartData) rows() int {
	n := 0
	for _, s := range cd.Sections {
		n += len(s.Rows)
	}
	return n
}

const defaultChartTitle = "kmsbench: kmsnode vs the baseline HTTP handler, per operation and concurrency"

// buildChart checks the reports and turns them into the chart's rows and
// text. Its errors name the source, because the chart subcommand takes
// several files.
func buildChart(title string, srcs []chartSource) (*chartData, error) {
	if len(srcs) == 0 {
		return nil, errors.New("no report to chart")
	}
	if title == "" {
		title = defaultChartTitle
	}
	cd := &chartData{Title: title, Headers: len(srcs) > 1}
	var machines, runs []string
	for _, s := range srcs {
		if err := checkReport(s.Rep); err != nil {
			if s.Name != "" {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			return nil, err
		}
		machines = appendNew(machines, machineText(s.Rep.Machine))
		runs = appendNew(runs, runsText(s.Rep.Config))
		sec := chartSection{Rows: reportRows(s.Rep)}
		if cd.Headers {
			sec.Header = s.Name + ": " + targetsText(s.Rep) + "; " + startedText(s.Rep)
		}
		cd.Sections = append(cd.Sections, sec)
	}
	if n := cd.rows(); n > maxChartRows {
		return nil, fmt.Errorf("%d rows (operation × concurrency × target) to chart; at most %d fit", n, maxChartRows)
	}
	notes := ""
	if n := srcs[0].Rep.Machine.Note; n != "" && len(machines) == 1 {
		notes = " (" + n + ")"
	}
	cd.Lines = append(cd.Lines, "machine "+strings.Join(machines, " | ")+notes)
	if len(srcs) == 1 {
		cd.Lines = append(cd.Lines, startedText(srcs[0].Rep)+"; "+runs[0], targetsText(srcs[0].Rep))
		return cd, nil
	}
	first, last := srcs[0].Rep.Started, srcs[0].Rep.Started
	for _, s := range srcs[1:] {
		first, last = minTime(first, s.Rep.Started), maxTime(last, s.Rep.Started)
	}
	span := fmt.Sprintf("%d reports, started %s to %s", len(srcs), first.UTC().Format("2006-01-02 15:04"), last.UTC().Format("2006-01-02 15:04 UTC"))
	if len(runs) == 1 {
		cd.Lines = append(cd.Lines, span+"; "+runs[0])
	} else {
		cd.Lines = append(cd.Lines, span)
		for i, s := range srcs {
			cd.Sections[i].Header += "; " + runsText(s.Rep.Config)
		}
	}
	return cd, nil
}

// checkReport rejects what is not a kmsbench report, or one with nothing
// to draw, with a message that says which.
func checkReport(rep *report) error {
	switch {
	case rep == nil:
		return errors.New("empty report")
	case rep.Tool != "kmsbench":
		return fmt.Errorf("not a kmsbench report (tool %q): want a file written by kmsbench --json", rep.Tool)
	case rep.Format < 1 || rep.Format > reportFormat:
		return fmt.Errorf("report format %d: this kmsbench reads formats 1 to %d", rep.Format, reportFormat)
	case len(reportRows(rep)) == 0:
		return errors.New("the report has no results to chart (no cells)")
	}
	return nil
}

// reportRows gives one row per cell and non-baseline target, in the
// report's order, as writeTable does. A file may hold nulls where a cell or
// target should be: they are skipped, not dereferenced.
func reportRows(rep *report) []chartRow {
	baseName := ""
	for _, t := range rep.Targets {
		if t != nil && t.Baseline {
			baseName = t.Name // as report.baselineName, which a null target would crash
			break
		}
	}
	names := map[string]bool{}
	for _, cl := range rep.Cells {
		if cl == nil {
			continue
		}
		for _, tc := range cl.Targets {
			if tc != nil && (baseName == "" || tc.Target != baseName) {
				names[tc.Target] = true
			}
		}
	}
	var rows []chartRow
	for _, cl := range rep.Cells {
		if cl == nil {
			continue
		}
		var base *figures
		for _, tc := range cl.Targets {
			if tc != nil && baseName != "" && tc.Target == baseName {
				base = &tc.Median
			}
		}
		for _, tc := range cl.Targets {
			if tc == nil || (baseName != "" && tc.Target == baseName) {
				continue
			}
			r := chartRow{Op: cl.Op, Conc: cl.Concurrency, Base: base, Node: tc.Median, Errors: tc.Median.Errors}
			if len(names) > 1 {
				r.Target = tc.Target
			}
			if tc.Ratio != nil {
				r.Ratio, r.P99 = tc.Ratio.OpsPerSec, tc.Ratio.P99
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func machineText(m machine) string {
	s := m.Hostname
	if s == "" {
		s = "?"
	}
	s += fmt.Sprintf(": %s/%s, %d CPUs", m.OS, m.Arch, m.CPUs)
	if m.CPUModel != "" {
		s += " (" + m.CPUModel + ")"
	}
	if m.GoVersion != "" {
		s += ", kmsbench " + m.GoVersion
	}
	return s
}

func runsText(c config) string {
	runs := "runs"
	if c.Repeat == 1 {
		runs = "run"
	}
	return fmt.Sprintf("each cell: median of %d %s of %s after %s warm-up", c.Repeat, runs, c.Duration, c.Warmup)
}

func startedText(rep *report) string {
	if rep.Started.IsZero() {
		return "date unknown"
	}
	return rep.Started.UTC().Format("2006-01-02 15:04 UTC")
}

// targetsText says where the load went: kmsnode's endpoint(s) and the
// baseline's.
func targetsText(rep *report) string {
	var parts []string
	base := "no baseline"
	for _, t := range rep.Targets {
		switch {
		case t == nil:
		case t.Baseline:
			base = "baseline at " + t.Endpoint
		case len(t.Endpoints) > 1:
			parts = append(parts, fmt.Sprintf("%s at %d endpoints (round-robin)", t.Name, len(t.Endpoints)))
		default:
			parts = append(parts, t.Name+" at "+t.Endpoint)
		}
	}
	return strings.Join(append(parts, base), ", ")
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func appendNew(xs []string, s string) []string {
	if slices.Contains(xs, s) {
		return xs
	}
	return append(xs, s)
}

// decodeReport parses a --json report. Unknown fields are allowed (a newer
// kmsbench may add some); checkReport judges the content.
func decodeReport(b []byte) (*report, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty file, not a kmsbench JSON report")
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("not a valid kmsbench JSON report: %w", err)
	}
	return &rep, nil
}

// encodeChart draws the chart of srcs and encodes it as PNG.
func encodeChart(title string, srcs []chartSource) ([]byte, error) {
	cd, err := buildChart(title, srcs)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, drawChart(cd)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeChart writes the PNG of srcs to path. It encodes first, so a failure
// leaves no half-written file behind.
func writeChart(path, title string, srcs []chartSource) error {
	b, err := encodeChart(title, srcs)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

// runChart is `kmsbench chart`: exit 2 for a usage error, 1 when a report
// cannot be read or drawn or the PNG not written.
func runChart(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("kmsbench chart", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	title := fs.String("title", "", "title of the chart (default: "+defaultChartTitle+")")
	out := fs.String("png", "", "write the chart to this PNG file (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "kmsbench chart: draw one PNG of one or more reports written by kmsbench --json\n\n"+
			"Usage: kmsbench chart [--title T] --png OUT.png RESULTS.json [RESULTS2.json ...]\n\n%s\n"+
			"Each report is one section of the chart, headed by its file name.\n", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "kmsbench chart:", err)
		return exitUsage
	}
	switch {
	case *out == "":
		fmt.Fprintln(stderr, "kmsbench chart: --png OUT.png is required")
		return exitUsage
	case fs.NArg() == 0:
		fmt.Fprintln(stderr, "kmsbench chart: no report given: kmsbench chart --png OUT.png RESULTS.json ...")
		return exitUsage
	}
	var srcs []chartSource
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err == nil {
			var rep *report
			if rep, err = decodeReport(b); err == nil {
				err = checkReport(rep)
			}
			if err == nil {
				srcs = append(srcs, chartSource{Name: filepath.Base(path), Rep: rep})
				continue
			}
			err = fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintln(stderr, "kmsbench chart:", err)
		return exitFailed
	}
	if err := writeChart(*out, *title, srcs); err != nil {
		fmt.Fprintln(stderr, "kmsbench", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "kmsbench chart: wrote %s\n", *out)
	return exitOK
}
