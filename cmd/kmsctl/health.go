package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/pflag"
)

// kmsctl health is the probe of container health checks and service
// managers: one GET of /readyz (or /healthz with --live), exit status 0 when
// it answers 200 and 1 otherwise. The kmsnode image has no shell and no curl,
// so docker-compose's healthcheck runs this; unlike `kmsctl status` it trusts
// a private CA (--ca-file), needs no credentials and prints one line.
const healthUsage = "kmsctl health [--live] [--ca-file FILE] [--timeout D] [ENDPOINT]"

func health(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl health", pflag.ContinueOnError)
	live := fs.Bool("live", false, "probe /healthz (the process answers) instead of /readyz (it can serve: unsealed, holds a read lease)")
	caFile := fs.String("ca-file", "", "PEM file of a CA to trust for an https endpoint")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: %s\n%s", healthUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, "kmsctl:", err)
		fmt.Fprintln(stderr, "usage:", healthUsage)
		return errUsage
	}
	if fs.NArg() > 1 { // the endpoint is optional
		fmt.Fprintf(stderr, "kmsctl: unexpected argument %q\nusage: %s\n", fs.Arg(1), healthUsage)
		return errUsage
	}
	endpoint := envOr("KMSNODE_ENDPOINT", "http://127.0.0.1:8080")
	if fs.NArg() == 1 {
		endpoint = fs.Arg(0)
	}
	c, err := probeClient(*caFile, *timeout)
	if err != nil {
		return err
	}
	path, what := "/readyz", "ready"
	if *live {
		path, what = "/healthz", "alive"
	}
	url := strings.TrimRight(endpoint, "/") + path
	code, body, err := probe(c, url)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		if body == "" {
			body = http.StatusText(code)
		}
		return fmt.Errorf("%s: %d %s", url, code, body)
	}
	fmt.Fprintf(stdout, "%s: %s\n", url, what)
	return nil
}

// probeClient is an HTTP client for health probes: no keep-alive (each probe
// is a fresh process or a fresh check), the given CA trusted when set.
func probeClient(caFile string, timeout time.Duration) (*http.Client, error) {
	tr := &http.Transport{DisableKeepAlives: true, TLSHandshakeTimeout: timeout}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// probe GETs url and returns the status code and the first line of the body,
// cleaned of control characters (it is printed, and a node's /readyz says why
// it is not ready in one line).
func probe(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	line = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, line)
	return resp.StatusCode, line, nil
}
