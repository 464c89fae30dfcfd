package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // an error, or requests failed during the runs
	exitUsage  = 2
	// exitInterrupted: SIGINT or SIGTERM stopped the runs (128 + SIGINT, as
	// a shell reports a command killed by Ctrl-C, so scripts stop too).
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config is the benchmark's configuration as the report records it.
type config struct {
	Endpoint         string   `json:"endpoint"`  // Endpoints joined with ","
	Endpoints        []string `json:"endpoints"` // kmsnode endpoints, workers round-robin
	BaselineEndpoint string   `json:"baseline_endpoint,omitempty"`
	Region           string   `json:"region"`
	AccessKeyID      string   `json:"access_key_id"`
	Ops              []string `json:"ops"`
	Concurrency      []int    `json:"concurrency"`
	Duration         string   `json:"duration"`
	Warmup           string   `json:"warmup"`
	Repeat           int      `json:"repeat"`
	Timeout          string   `json:"timeout"`

	duration, warmup, timeout time.Duration
	secret                    string
	jsonPath, csvPath         string
	pngPath                   string
	cpuProfile                string
	profileURLs               []string
	profileDir                string
	pids, baselinePIDs        []int
}

var errHelp = errors.New("help")

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := pflag.NewFlagSet("kmsbench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	c := &config{}
	var secretFile string
	fs.StringVar(&c.Endpoint, "endpoint", envOr(getenv, "http://127.0.0.1:8080", "KMSNODE_ENDPOINT"), "kmsnode endpoint, or a comma-separated list of the endpoints of one region's nodes: worker i sends to endpoint i mod n, setup goes through the first (env KMSNODE_ENDPOINT)")
	fs.StringVar(&c.BaselineEndpoint, "baseline-endpoint", "", "endpoint of the baseline handler (bench/baseline) measured next to kmsnode; empty: no baseline, no ratios")
	fs.StringVar(&c.Region, "region", envOr(getenv, "us-east-1", "AWS_REGION", "AWS_DEFAULT_REGION"), "region of the SigV4 scope (env AWS_REGION, AWS_DEFAULT_REGION)")
	fs.StringVar(&c.AccessKeyID, "access-key-id", getenv("AWS_ACCESS_KEY_ID"), "access key ID that signs the requests (env AWS_ACCESS_KEY_ID)")
	fs.StringVar(&secretFile, "secret-access-key-file", "", "file holding the secret access key; default: env AWS_SECRET_ACCESS_KEY")
	fs.StringSliceVar(&c.Ops, "ops", []string{"Encrypt32", "Encrypt4K", "Decrypt", "GenerateDataKey"},
		"operations to run, from: "+strings.Join(opNames(), ", "))
	fs.IntSliceVar(&c.Concurrency, "concurrency", []int{1, 32}, "numbers of concurrent closed-loop workers")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "measured window of each run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unrecorded warm-up before each run's window")
	fs.IntVar(&c.Repeat, "repeat", 3, "runs per target and cell; the report gives medians")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "time to wait for an answer's headers before a request fails")
	fs.StringVar(&c.jsonPath, "json", "", "write every run and median as JSON to this file")
	fs.StringVar(&c.csvPath, "csv", "", "write every run and median as CSV to this file")
	fs.StringVar(&c.pngPath, "png", "", "write a PNG chart of the medians (ops/s and latency per cell) to this file")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of kmsbench itself (the client side) to this file")
	fs.IntSliceVar(&c.pids, "pid", nil, "process IDs of the kmsnode nodes (Linux): report server CPU µs per request from /proc/<pid>/stat")
	fs.IntSliceVar(&c.baselinePIDs, "baseline-pid", nil, "process ID of the baseline handler, for its CPU µs per request")
	fs.StringSliceVar(&c.profileURLs, "profile-url", nil, "pprof listeners of the kmsnode nodes (kmsnode --debug-addr), e.g. http://127.0.0.1:6060: profile the server during the first repetition of each kmsnode run")
	fs.StringVar(&c.profileDir, "profile-dir", "", "directory for the server profiles of --profile-url (cpu-<op>-c<N>.pprof, heap.pprof, allocs.pprof)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "kmsbench: closed-loop SigV4 load against kmsnode and a baseline HTTP handler\n\nUsage: kmsbench [flags]\n       kmsbench chart [--title T] --png OUT.png RESULTS.json ...  (chart of --json reports; kmsbench chart --help)\n\n%s\nOperations:\n", fs.FlagUsages())
		for _, o := range opTable {
			fmt.Fprintf(stderr, "  %-16s %s\n", o.Name, o.Help)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("secret access key: %w", err)
		}
		c.secret = strings.TrimSpace(string(b))
	} else {
		c.secret = getenv("AWS_SECRET_ACCESS_KEY")
	}
	switch {
	case c.AccessKeyID == "":
		return nil, errors.New("no access key ID: give --access-key-id or set AWS_ACCESS_KEY_ID")
	case c.secret == "":
		return nil, errors.New("no secret access key: give --secret-access-key-file or set AWS_SECRET_ACCESS_KEY")
	case c.Region == "":
		return nil, errors.New("--region is empty")
	case len(c.Ops) == 0:
		return nil, errors.New("--ops is empty")
	case len(c.Concurrency) == 0:
		return nil, errors.New("--concurrency is empty")
	case c.duration <= 0:
		return nil, errors.New("--duration must be positive")
	case c.warmup < 0:
		return nil, errors.New("--warmup must not be negative")
	case c.Repeat < 1:
		return nil, errors.New("--repeat must be at least 1")
	case c.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	}
	for i, name := range c.Ops {
		o, err := lookupOp(name)
		if err != nil {
			return nil, err
		}
		c.Ops[i] = o.Name
	}
	for _, n := range c.Concurrency {
		if n < 1 || n > 10000 {
			return nil, fmt.Errorf("--concurrency %d: must be 1–10000", n)
		}
	}
	eps, err := parseEndpoints(c.Endpoint)
	if err != nil {
		return nil, err
	}
	c.Endpoints, c.Endpoint = eps, strings.Join(eps, ",")
	if c.BaselineEndpoint != "" {
		e, err := parseEndpoint(c.BaselineEndpoint)
		if err != nil {
			return nil, fmt.Errorf("--baseline-endpoint: %w", err)
		}
		c.BaselineEndpoint = e
	}
	c.Duration, c.Warmup, c.Timeout = c.duration.String(), c.warmup.String(), c.timeout.String()
	return c, nil
}

// parseEndpoints parses --endpoint: one endpoint or a comma-separated list,
// each http(s)://host:port, no duplicates.
func parseEndpoints(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		e, err := parseEndpoint(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("--endpoint: %w", err)
		}
		if slices.Contains(out, e) {
			return nil, fmt.Errorf("--endpoint: %s is listed twice", e)
		}
		out = append(out, e)
	}
	return out, nil
}

// parseEndpoint checks one endpoint and drops a trailing "/".
func parseEndpoint(e string) (string, error) {
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("endpoint %q: want http(s)://host:port", e)
	}
	return strings.TrimSuffix(e, "/"), nil
}

func envOr(getenv func(string) string, def string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return def
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	// The load generator takes no positional argument, so a first argument
	// "chart" cannot mean anything else.
	if len(args) > 0 && args[0] == "chart" {
		return runChart(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "kmsbench:", err)
		return exitUsage
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "kmsbench: cpu profile:", err)
			return exitFailed
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	rep, err := bench(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kmsbench:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	writeTable(stdout, rep)
	if cfg.jsonPath != "" {
		if err := writeJSON(cfg.jsonPath, rep); err != nil {
			fmt.Fprintln(stderr, "kmsbench:", err)
			return exitFailed
		}
	}
	if cfg.csvPath != "" {
		if err := writeCSV(cfg.csvPath, rep); err != nil {
			fmt.Fprintln(stderr, "kmsbench:", err)
			return exitFailed
		}
	}
	if cfg.pngPath != "" {
		if err := writeChart(cfg.pngPath, "", []chartSource{{Rep: rep}}); err != nil {
			fmt.Fprintln(stderr, "kmsbench:", err)
			return exitFailed
		}
	}
	var failed int64
	for _, cl := range rep.Cells {
		for _, tc := range cl.Targets {
			failed += tc.Median.Errors
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "kmsbench: %d request(s) failed; see the table\n", failed)
		return exitFailed
	}
	return exitOK
}

// bench runs every cell and returns the report.
func bench(ctx context.Context, cfg *config, progress io.Writer) (*report, error) {
	var targets []*target
	if cfg.BaselineEndpoint != "" {
		targets = append(targets, newTarget("baseline", []string{cfg.BaselineEndpoint}, true))
		targets[0].PIDs = cfg.baselinePIDs
	}
	node := newTarget("kmsnode", cfg.Endpoints, false)
	node.PIDs = cfg.pids
	targets = append(targets, node)

	maxC := 0
	for _, n := range cfg.Concurrency {
		maxC = max(maxC, n)
	}
	creds := aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.secret, Source: "kmsbench"}
	c := newClient(creds, cfg.Region, maxC, cfg.timeout)
	defer c.tr.CloseIdleConnections()

	prof, err := newProfiler(cfg.profileURLs, cfg.profileDir)
	if err != nil {
		return nil, err
	}
	fix, err := setup(ctx, c, node)
	if err != nil {
		return nil, err
	}
	rep := &report{Tool: "kmsbench", Format: reportFormat, Started: time.Now().UTC(), Machine: currentMachine(),
		Config: *cfg, Fixture: fix, Targets: targets}

	total := len(cfg.Ops) * len(cfg.Concurrency) * cfg.Repeat * len(targets)
	fmt.Fprintf(progress, "kmsbench: %d runs of %s + %s warm-up, about %s; key %s\n",
		total, cfg.duration, cfg.warmup, (time.Duration(total) * (cfg.duration + cfg.warmup)).Round(time.Second), fix.KeyID)
	n := 0
	for _, name := range cfg.Ops {
		op, _ := lookupOp(name)
		req, err := op.prepare(fix)
		if err != nil {
			return nil, err
		}
		for _, conc := range cfg.Concurrency {
			cl := &cell{Op: op.Name, API: op.API, Concurrency: conc}
			for _, t := range targets {
				cl.Targets = append(cl.Targets, &targetCell{Target: t.Name})
			}
			for seq, s := range schedule(cfg.Repeat, len(targets)) {
				if err := ctx.Err(); err != nil {
					return nil, errors.New("interrupted")
				}
				n++
				t := targets[s.Target]
				started := time.Now().UTC()
				wait := func() error { return nil }
				if prof != nil && !t.Baseline && s.Rep == 0 {
					wait = prof.cpu(ctx, fmt.Sprintf("%s-c%d", op.Name, conc), started.Add(cfg.warmup), cfg.duration)
				}
				from := started.Add(cfg.warmup)
				cpu := cpuWindow(ctx, t.PIDs, from, from.Add(cfg.duration))
				st := runLoad(ctx, c, loadSpec{Target: t, Request: req, Concurrency: conc, Warmup: cfg.warmup, Duration: cfg.duration})
				if ctx.Err() != nil {
					return nil, errors.New("interrupted")
				}
				if err := wait(); err != nil {
					return nil, err
				}
				cpuUsed, err := cpu()
				if err != nil {
					return nil, fmt.Errorf("server CPU time of %s: %w", t.Name, err)
				}
				r := newRunResult(s.Rep+1, seq+1, started, st)
				if n := r.Requests; n > 0 && len(t.PIDs) > 0 {
					r.CPUUsPerOp = float64(cpuUsed.Microseconds()) / float64(n)
				}
				cl.Targets[s.Target].Runs = append(cl.Targets[s.Target].Runs, r)
				fmt.Fprintf(progress, "[%*d/%d] %-15s c=%-3d rep %d/%d %-9s %8.0f ops/s  p50 %s  p99 %s ms  errors %d\n",
					len(fmt.Sprint(total)), n, total, op.Name, conc, s.Rep+1, cfg.Repeat, t.Name,
					r.OpsPerSec, fmtMs(r.P50Ms), fmtMs(r.P99Ms), r.Errors)
			}
			var base *targetCell
			for i, t := range targets {
				if t.Baseline {
					base = cl.Targets[i]
				}
			}
			for _, tc := range cl.Targets {
				tc.finish(base)
			}
			rep.Cells = append(rep.Cells, cl)
		}
	}
	rep.Finished = time.Now().UTC()
	if prof != nil {
		if err := prof.final(ctx); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "kmsbench: server profiles in %s (go tool pprof -top FILE)\n", cfg.profileDir)
	}
	return rep, nil
}
