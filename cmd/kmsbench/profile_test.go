package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProfilerFetchesEachNode(t *testing.T) {
	var cpuSeconds atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) {
		cpuSeconds.Store(r.URL.Query().Get("seconds"))
		w.Write([]byte("cpu profile"))
	})
	mux.HandleFunc("/debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("heap")) })
	mux.HandleFunc("/debug/pprof/allocs", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("allocs")) })
	a, b := httptest.NewServer(mux), httptest.NewServer(mux)
	defer a.Close()
	defer b.Close()

	dir := t.TempDir()
	p, err := newProfiler([]string{a.URL, b.URL + "/"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	wait := p.cpu(context.Background(), "Encrypt32-c32", time.Now(), 2500*time.Millisecond)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := cpuSeconds.Load(); got != "2" {
		t.Errorf("asked for seconds=%v, want 2 (whole seconds of the window)", got)
	}
	if err := p.final(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cpu-Encrypt32-c32-n1", "cpu-Encrypt32-c32-n2", "heap-n1", "allocs-n2"} {
		if b, err := os.ReadFile(filepath.Join(dir, f+".pprof")); err != nil || len(b) == 0 {
			t.Errorf("%s.pprof: %v, %d bytes", f, err, len(b))
		}
	}
}

func TestProfilerErrors(t *testing.T) {
	if p, err := newProfiler(nil, ""); p != nil || err != nil {
		t.Errorf("no URLs: %v, %v; want no profiler", p, err)
	}
	if _, err := newProfiler([]string{"http://127.0.0.1:1"}, ""); err == nil {
		t.Error("no --profile-dir accepted")
	}
	if _, err := newProfiler([]string{"ftp://x"}, t.TempDir()); err == nil {
		t.Error("bad URL accepted")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	p, err := newProfiler([]string{srv.URL}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = p.cpu(context.Background(), "x", time.Now(), time.Second)()
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("profile from a server without pprof: %v, want a 404 error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.cpu(ctx, "x", time.Now().Add(time.Hour), time.Second)(); err == nil {
		t.Error("a cancelled run still waited for its profile")
	}
}
