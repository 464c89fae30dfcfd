package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/pflag"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1 // an error, or calls failed
	exitUsage       = 2
	exitInterrupted = 130
)

// maxRotations is fsm.MaxOnDemandRotations: AWS, and kmsnode, allow 25
// on-demand rotations per key.
const maxRotations = 25

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

var errHelp = errors.New("help")

// conn holds the flags every command that talks to a node shares.
type conn struct {
	endpoint, region, accessKeyID, secretFile string
	timeout                                   time.Duration
}

func (c *conn) flags(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.endpoint, "endpoint", envOr(getenv, "http://127.0.0.1:8080", "KMSNODE_ENDPOINT"), "kmsnode endpoint (env KMSNODE_ENDPOINT)")
	fs.StringVar(&c.region, "region", envOr(getenv, "us-east-1", "AWS_REGION", "AWS_DEFAULT_REGION"), "region of the SigV4 scope (env AWS_REGION, AWS_DEFAULT_REGION)")
	fs.StringVar(&c.accessKeyID, "access-key-id", getenv("AWS_ACCESS_KEY_ID"), "access key ID that signs the requests (env AWS_ACCESS_KEY_ID)")
	fs.StringVar(&c.secretFile, "secret-access-key-file", "", "file holding the secret access key; default: env AWS_SECRET_ACCESS_KEY")
	fs.DurationVar(&c.timeout, "request-timeout", 30*time.Second, "time allowed for one HTTP request and its answer")
}

// client builds the client for conns concurrent callers.
func (c *conn) client(getenv func(string) string, conns int) (*client, error) {
	secret := getenv("AWS_SECRET_ACCESS_KEY")
	if c.secretFile != "" {
		b, err := os.ReadFile(c.secretFile)
		if err != nil {
			return nil, fmt.Errorf("secret access key: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	switch {
	case c.accessKeyID == "":
		return nil, errors.New("no access key ID: give --access-key-id or set AWS_ACCESS_KEY_ID")
	case secret == "":
		return nil, errors.New("no secret access key: give --secret-access-key-file or set AWS_SECRET_ACCESS_KEY")
	case c.region == "":
		return nil, errors.New("--region is empty")
	case c.timeout <= 0:
		return nil, errors.New("--request-timeout must be positive")
	}
	u, err := url.Parse(c.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("--endpoint %q: want http(s)://host:port", c.endpoint)
	}
	creds := aws.Credentials{AccessKeyID: c.accessKeyID, SecretAccessKey: secret, Source: "kmsfill"}
	return newClient(c.endpoint, creds, c.region, conns, c.timeout), nil
}

func envOr(getenv func(string) string, def string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return def
}

func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return err
	}
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "check":
		err = runCheck(ctx, args[1:], getenv, stdout, stderr)
	case len(args) > 0 && args[0] == "snapinfo":
		err = runSnapInfo(args[1:], stdout, stderr)
	default:
		return runFill(ctx, args, getenv, stdout, stderr)
	}
	return exitCode(ctx, err, stderr)
}

func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "kmsfill:", err)
		return exitUsage
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "kmsfill: interrupted:", err)
		return exitInterrupted
	default:
		fmt.Fprintln(stderr, "kmsfill:", err)
		return exitFailed
	}
}

type usageError struct{ error }

func runFill(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("kmsfill", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	var cn conn
	var spec fillSpec
	var jsonPath string
	var maxAttempts int
	fs.IntVar(&spec.Keys, "keys", 100000, "keys to create")
	fs.IntVar(&spec.Versions, "versions", 3, "material versions per key: CreateKey, then RotateKeyOnDemand versions-1 times (1–26)")
	fs.IntVar(&spec.Concurrency, "concurrency", 32, "concurrent workers, each creating one key at a time")
	fs.DurationVar(&spec.Progress, "progress", 5*time.Second, "progress line on stderr this often (0: none)")
	fs.StringVar(&spec.Description, "description", "kmsfill", "description of the keys")
	fs.IntVar(&maxAttempts, "max-attempts", 10, "attempts per call when the node answers 503 or throttles")
	fs.StringVar(&jsonPath, "json", "", "write the summary as JSON to this file")
	cn.flags(fs, getenv)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "kmsfill: fill a kmsnode with keys and material versions through its API\n\n"+
			"Usage: kmsfill [flags]\n       kmsfill check --key-id ID --versions V [flags]\n       kmsfill snapinfo STATE.BIN\n\n%s", fs.FlagUsages())
	}
	if err := parse(fs, args); err != nil {
		return exitCode(ctx, usageOr(err), stderr)
	}
	switch {
	case fs.NArg() > 0:
		return exitCode(ctx, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}, stderr)
	case spec.Keys < 1:
		return exitCode(ctx, usageError{errors.New("--keys must be at least 1")}, stderr)
	case spec.Versions < 1 || spec.Versions > maxRotations+1:
		return exitCode(ctx, usageError{fmt.Errorf("--versions must be 1–%d (at most %d on-demand rotations per key)",
			maxRotations+1, maxRotations)}, stderr)
	case spec.Concurrency < 1 || spec.Concurrency > 4096:
		return exitCode(ctx, usageError{errors.New("--concurrency must be 1–4096")}, stderr)
	case maxAttempts < 1:
		return exitCode(ctx, usageError{errors.New("--max-attempts must be at least 1")}, stderr)
	}
	c, err := cn.client(getenv, spec.Concurrency)
	if err != nil {
		return exitCode(ctx, usageError{err}, stderr)
	}
	defer c.close()
	c.maxAttempts = maxAttempts
	fmt.Fprintf(stderr, "kmsfill: creating %d keys × %d versions (%d writes) with %d workers at %s\n",
		spec.Keys, spec.Versions, spec.Keys*spec.Versions, spec.Concurrency, cn.endpoint)
	s := fill(ctx, c, spec, stderr)
	writeSummary(stdout, s)
	if jsonPath != "" {
		b, err := json.MarshalIndent(s, "", "  ")
		if err == nil {
			err = os.WriteFile(jsonPath, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "kmsfill:", err)
			return exitFailed
		}
	}
	switch {
	case s.Interrupted:
		fmt.Fprintln(stderr, "kmsfill: interrupted")
		return exitInterrupted
	case s.Failed > 0:
		fmt.Fprintf(stderr, "kmsfill: %d call(s) failed; see the summary\n", s.Failed)
		return exitFailed
	}
	return exitOK
}

func usageOr(err error) error {
	if errors.Is(err, errHelp) {
		return err
	}
	return usageError{err}
}

func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsfill check", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	var cn conn
	keyID := fs.String("key-id", "", "key to describe")
	versions := fs.Int("versions", 1, "material versions the key must have")
	wait := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	cn.flags(fs, getenv)
	if err := parse(fs, args); err != nil {
		return usageOr(err)
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	case *keyID == "":
		return usageError{errNoKey}
	case *versions < 1:
		return usageError{errors.New("--versions must be at least 1")}
	}
	c, err := cn.client(getenv, 1)
	if err != nil {
		return usageError{err}
	}
	defer c.close()
	// The node may be starting: retry connection errors too, quickly, for
	// as long as --timeout allows.
	c.retryTransport, c.maxAttempts = true, 1<<30
	c.baseBackoff, c.maxBackoff = 10*time.Millisecond, 100*time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	return check(ctx, c, *keyID, *versions, stdout)
}

func runSnapInfo(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsfill snapinfo", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parse(fs, args); err != nil {
		return usageOr(err)
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("snapinfo takes one argument: the snapshot's state.bin")}
	}
	info, err := readSnapInfo(fs.Arg(0))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
