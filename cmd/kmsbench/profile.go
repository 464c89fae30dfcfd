package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// profiler takes CPU profiles of the servers under test while kmsbench
// measures them (`make bench PROFILE=1`): for the first repetition of every
// kmsnode run it asks each node's pprof listener (kmsnode --debug-addr) for
// a CPU profile covering the measured window, and at the end for a heap and
// an allocation profile. Profiles are named after the cell
// (cpu-Encrypt32-c32.pprof; with several nodes, -n1, -n2 … by position in
// --profile-url).
type profiler struct {
	urls []string // pprof base URLs, e.g. http://127.0.0.1:6060
	dir  string
	hc   *http.Client
}

func newProfiler(urls []string, dir string) (*profiler, error) {
	if len(urls) == 0 {
		return nil, nil
	}
	if dir == "" {
		return nil, fmt.Errorf("--profile-url needs --profile-dir")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, u := range urls {
		e, err := parseEndpoint(u)
		if err != nil {
			return nil, fmt.Errorf("--profile-url: %w", err)
		}
		urls[i] = e
	}
	return &profiler{urls: urls, dir: dir, hc: &http.Client{}}, nil
}

// cpu starts one CPU profile per node covering [from, from+d) and returns a
// function that waits for them and reports the first failure.
func (p *profiler) cpu(ctx context.Context, name string, from time.Time, d time.Duration) func() error {
	secs := max(int(d/time.Second), 1)
	errs := make(chan error, len(p.urls))
	for i, u := range p.urls {
		go func() {
			// Wait for the warm-up to end so the profile covers the
			// measured window, not the connection set-up.
			t := time.NewTimer(time.Until(from))
			defer t.Stop()
			select {
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			case <-t.C:
			}
			errs <- p.fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", u, secs), p.file("cpu-"+name, i))
		}()
	}
	return func() error {
		var first error
		for range p.urls {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// final takes the heap and allocation profiles of every node.
func (p *profiler) final(ctx context.Context) error {
	for i, u := range p.urls {
		for _, kind := range []string{"heap", "allocs"} {
			if err := p.fetch(ctx, u+"/debug/pprof/"+kind, p.file(kind, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *profiler) file(name string, node int) string {
	if len(p.urls) > 1 {
		name += fmt.Sprintf("-n%d", node+1)
	}
	return filepath.Join(p.dir, strings.ReplaceAll(name, "/", "_")+".pprof")
}

func (p *profiler) fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}
