package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testReport is a report as bench builds it: every cell runs both targets
// three times and finish computes the medians and ratios.
func testReport(ops []string, concs []int) *report {
	rep := &report{
		Tool: "kmsbench", Format: reportFormat, Started: time.Date(2026, 11, 23, 12, 57, 0, 0, time.UTC),
		Machine: machine{Hostname: "vm", OS: "linux", Arch: "amd64", CPUs: 2, CPUModel: "AMD EPYC", GoVersion: "go1.26",
			Note: "load generator and servers share these CPUs"},
		Config: config{Endpoint: "http://127.0.0.1:2", Endpoints: []string{"http://127.0.0.1:2"}, BaselineEndpoint: "http://127.0.0.1:1",
			Ops: ops, Concurrency: concs, Duration: "1s", Warmup: "200ms", Repeat: 3},
		Targets: []*target{newTarget("baseline", []string{"http://127.0.0.1:1"}, true), newTarget("kmsnode", []string{"http://127.0.0.1:2"}, false)},
	}
	for i, op := range ops {
		for _, c := range concs {
			cl := &cell{Op: op, API: op, Concurrency: c}
			base, node := &targetCell{Target: "baseline"}, &targetCell{Target: "kmsnode"}
			for r := 1; r <= 3; r++ {
				ops := 4000 * float64(min(c, 3)) * (1 + 0.01*float64(r))
				lat := 0.2 * float64(c)
				base.Runs = append(base.Runs, &runResult{Rep: r, Seq: 2*r - 1,
					figures: figures{OpsPerSec: ops, P50Ms: lat, P99Ms: 3 * lat, P999Ms: 5 * lat}})
				k := 1 + float64(i)
				node.Runs = append(node.Runs, &runResult{Rep: r, Seq: 2 * r,
					figures: figures{OpsPerSec: ops / k, P50Ms: k * lat, P99Ms: 4 * k * lat, P999Ms: 9 * k * lat}})
			}
			base.finish(base)
			node.finish(base)
			cl.Targets = []*targetCell{base, node}
			rep.Cells = append(rep.Cells, cl)
		}
	}
	rep.Finished = rep.Started.Add(time.Minute)
	return rep
}

// countIn counts the k×k blocks of colour col in the rows' region of the
// chart: with k = 2, bars, not the legend (it has a swatch of every colour)
// nor a pixel of a glyph's edge that happens to blend into col.
func countIn(t *testing.T, img image.Image, cd *chartData, col color.RGBA, k int) int {
	t.Helper()
	l := planChart(cd)
	n := 0
	for y := l.top; y <= l.bottom-k; y++ {
	pixel:
		for x := range chartW - k + 1 {
			for dy := range k {
				for dx := range k {
					if color.RGBAModel.Convert(img.At(x+dx, y+dy)).(color.RGBA) != col {
						continue pixel
					}
				}
			}
			n++
		}
	}
	return n
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

func TestChartPNG(t *testing.T) {
	srcs := []chartSource{{Rep: testReport([]string{"Encrypt32", "Encrypt4K", "Decrypt", "GenerateDataKey"}, []int{1, 32})}}
	b, err := encodeChart("", srcs)
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, b)
	cd, _ := buildChart("", srcs)
	l := planChart(cd)
	if got := img.Bounds().Size(); got.X != chartW || got.Y != l.h {
		t.Errorf("size %v, want %dx%d", got, chartW, l.h)
	}
	// Eight rows: about the 900 px the layout aims at.
	if l.h < 850 || l.h > 950 || l.rowH < minRowH {
		t.Errorf("8 rows: height %d, row height %d", l.h, l.rowH)
	}
	for _, c := range []struct {
		name string
		col  color.RGBA
	}{{"baseline", colBase}, {"kmsnode", colNode}, {"p50", colP50}, {"p99", colP99}, {"p99.9", colP999}, {"text", colText}} {
		// Eight rows of bars at least 1 px wide and ~10 px high each.
		if n := countIn(t, img, cd, c.col, 2); n < 80 {
			t.Errorf("%s colour: %d pixels among the rows", c.name, n)
		}
	}
}

func TestChartWithoutBaselineAndWithFailures(t *testing.T) {
	rep := testReport([]string{"Decrypt"}, []int{1, 8})
	rep.Targets = rep.Targets[1:]
	for _, cl := range rep.Cells {
		cl.Targets = cl.Targets[1:]
		cl.Targets[0].Ratio = nil
	}
	// A cell where nothing succeeded: no ops/s, no latency, only errors.
	rep.Cells[1].Targets[0].Median = figures{Errors: 12}
	srcs := []chartSource{{Rep: rep}}
	cd, err := buildChart("", srcs)
	if err != nil {
		t.Fatal(err)
	}
	if cd.Sections[0].Rows[0].Base != nil || cd.Sections[0].Rows[1].Errors != 12 {
		t.Errorf("rows %+v", cd.Sections[0].Rows)
	}
	img := drawChart(cd)
	if n := countIn(t, img, cd, colBase, 2); n != 0 {
		t.Errorf("%d baseline pixels without a baseline", n)
	}
	if n := countIn(t, img, cd, colErr, 1); n == 0 {
		t.Error("the failed requests are not shown")
	}
}

func TestChartSubcommand(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "cluster-crypto.json"), filepath.Join(dir, "cluster-createkey-leader.json")
	if err := writeJSON(one, testReport([]string{"Encrypt32", "Decrypt"}, []int{1, 32})); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(two, testReport([]string{"CreateKey"}, []int{1, 8})); err != nil {
		t.Fatal(err)
	}
	var size [2]image.Point
	for i, files := range [][]string{{one}, {one, two}} {
		out := filepath.Join(dir, "chart.png")
		var stdout, stderr bytes.Buffer
		args := append([]string{"chart", "--title", "region", "--png", out}, files...)
		if code := run(context.Background(), args, os.Getenv, &stdout, &stderr); code != exitOK {
			t.Fatalf("kmsbench %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		size[i] = decodePNG(t, b).Bounds().Size()
		if !strings.Contains(stdout.String(), out) {
			t.Errorf("stdout %q does not name %s", stdout.String(), out)
		}
	}
	// Two files: two sections, 6 rows instead of 4, so a taller image.
	if size[0].X != chartW || size[1].X != chartW || size[1].Y <= size[0].Y {
		t.Errorf("sizes %v", size)
	}
	cd, err := buildChart("", []chartSource{{Name: "a.json", Rep: testReport([]string{"Encrypt32"}, []int{1})},
		{Name: "b.json", Rep: testReport([]string{"CreateKey"}, []int{1})}})
	if err != nil || !cd.Headers || !strings.HasPrefix(cd.Sections[1].Header, "b.json: kmsnode at ") {
		t.Errorf("sections %+v, %v", cd, err)
	}
}

func TestChartBadInput(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Join(dir, "good.json")
	if err := writeJSON(good, testReport([]string{"Decrypt"}, []int{1})); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty-report.json")
	noCells := testReport([]string{"Decrypt"}, []int{1})
	noCells.Cells = nil
	if err := writeJSON(empty, noCells); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"--png", out, filepath.Join(dir, "nope.json")}, exitFailed, "no such file"},
		{"invalid JSON", []string{"--png", out, file("bad.json", `{"tool": "kmsbench",`)}, exitFailed, "not a valid kmsbench JSON report"},
		{"empty file", []string{"--png", out, file("zero.json", "\n")}, exitFailed, "empty file"},
		{"empty report", []string{"--png", out, empty}, exitFailed, "no results to chart"},
		{"null cells", []string{"--png", out, file("nulls.json", `{"tool":"kmsbench","format":2,"targets":[null],"cells":[null,{"op":"x","targets":[null]}]}`)}, exitFailed, "no results to chart"},
		{"another tool", []string{"--png", out, file("other.json", `{"tool":"wrk","cells":[]}`)}, exitFailed, `not a kmsbench report (tool "wrk")`},
		{"future format", []string{"--png", out, file("future.json", `{"tool":"kmsbench","format":99}`)}, exitFailed, "format 99"},
		{"a JSON array", []string{"--png", out, file("array.json", `[1,2]`)}, exitFailed, "not a valid kmsbench JSON report"},
		{"one bad among good", []string{"--png", out, good, empty}, exitFailed, empty + ": the report has no results"},
		{"no --png", []string{good}, exitUsage, "--png OUT.png is required"},
		{"no report", []string{"--png", out}, exitUsage, "no report given"},
		{"unknown flag", []string{"--png", out, "--width", "3", good}, exitUsage, "unknown flag"},
		{"unwritable output", []string{"--png", filepath.Join(dir, "no", "such", "dir.png"), good}, exitFailed, "no such file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"chart"}, tc.args...), os.Getenv, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, stderr.String(), tc.code, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: %s was written", tc.name, out)
			os.Remove(out)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"chart", "--help"}, os.Getenv, &stderr, &stderr); code != exitOK ||
		!strings.Contains(stderr.String(), "kmsbench chart [--title T] --png OUT.png") {
		t.Errorf("chart --help: exit %d, %q", code, stderr.String())
	}
}

func TestChartTooManyRows(t *testing.T) {
	concs := make([]int, maxChartRows+1)
	for i := range concs {
		concs[i] = i + 1
	}
	_, err := buildChart("", []chartSource{{Rep: testReport([]string{"Decrypt"}, concs)}})
	if err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%d rows: %v", len(concs), err)
	}
}

func TestChartText(t *testing.T) {
	for v, want := range map[float64]string{0.0021: "0.002", 0.68: "0.68", 1.044: "1.04", 27.02: "27.0", 170.71: "171"} {
		if got := ratioText(&v); got != want {
			t.Errorf("ratioText(%v) = %q, want %q", v, got, want)
		}
	}
	if ratioText(nil) != "-" {
		t.Error("no ratio is not -")
	}
	if got := fit("GenerateDataKey c=32", 10*glyphW, 1); got != "Generat..." {
		t.Errorf("fit: %q", got)
	}
	if got := fit("abc", 2*glyphW, 1); got != ".." {
		t.Errorf("fit in 2 glyphs: %q", got)
	}
	if got := printable("a\x00b\u2014c\xffé"); got != "a?b?c?é" {
		t.Errorf("printable: %q", got)
	}
	for top, want := range map[float64]linAxis{14513: {5000, 3}, 16000: {5000, 4}, 12: {5, 3}, 0: {0.5, 2}} {
		if got := niceAxis(top); got != want {
			t.Errorf("niceAxis(%v) = %+v, want %+v", top, got, want)
		}
	}
}

// A run with --png writes the chart of what it measured, next to --json.
func TestRunWritesPNG(t *testing.T) {
	f := newFakeRegion(t, 2)
	dir := t.TempDir()
	png, js := filepath.Join(dir, "results.png"), filepath.Join(dir, "results.json")
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cret"}
	args := []string{"--endpoint", f.servers[0].URL, "--baseline-endpoint", f.servers[1].URL, "--ops", "Encrypt32",
		"--concurrency", "1,2", "--duration", "100ms", "--warmup", "10ms", "--repeat", "1", "--json", js, "--png", png}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, func(k string) string { return env[k] }, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if size := decodePNG(t, b).Bounds().Size(); size.X != chartW {
		t.Errorf("size %v", size)
	}
	// The chart subcommand redraws the same picture from the JSON.
	again := filepath.Join(dir, "again.png")
	if code := run(context.Background(), []string{"chart", "--png", again, js}, os.Getenv, &stdout, &stderr); code != exitOK {
		t.Fatalf("chart: exit %d: %s", code, stderr.String())
	}
	if b2, _ := os.ReadFile(again); !bytes.Equal(b, b2) {
		t.Error("kmsbench chart of the JSON differs from the run's --png")
	}
}

// FuzzChartJSON: whatever a file holds, the chart subcommand gives an
// error or an image, never a panic or a runaway allocation.
func FuzzChartJSON(f *testing.F) {
	b, err := json.Marshal(testReport([]string{"Encrypt32", "CreateKey"}, []int{1, 32}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"tool":"kmsbench","format":2,"cells":[null]}`,
		`{"tool":"kmsbench","format":1,"targets":[{"name":"b","baseline":true},null],"cells":[{"op":"\u0000\u2014` +
			strings.Repeat("x", 300) + `","concurrency":-5,"targets":[{"target":"b","median":{"ops_per_sec":-1,"p99_ms":1e308}},` +
			`{"target":"k","median":{"ops_per_sec":1e308,"p50_ms":5e-324,"p99_ms":-3,"p999_ms":1e-300,"errors":-9},` +
			`"ratio_to_baseline":{"ops_per_sec":1e300,"p99":-1}}]}]}`,
		`{"tool":"kmsbench","format":2,"machine":{"hostname":"\xff\xfe"},"cells":[{"targets":[{"target":""}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := decodeReport(data)
		if err != nil {
			return
		}
		cd, err := buildChart("", []chartSource{{Name: "f.json", Rep: rep}, {Name: "g.json", Rep: rep}})
		if err != nil {
			return
		}
		if size := drawChart(cd).Bounds().Size(); size.X != chartW || size.Y > 200*maxRowH {
			t.Fatalf("size %v", size)
		}
	})
}
