package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/spf13/pflag"
)

// debugFlag adds --debug-addr to fs: an opt-in, loopback-only listener for
// Go's net/http/pprof, so `make bench PROFILE=1` and an operator chasing a
// slow node can take CPU and heap profiles of a running process. It is never
// on the API port (a profile endpoint needs no signature) and never on a
// non-loopback address: goroutine dumps and heap profiles describe the
// process's internals, which only the machine's own users should see.
func debugFlag(fs *pflag.FlagSet) *string {
	return fs.String("debug-addr", "", "loopback address for Go's pprof profiles (/debug/pprof/); empty: off")
}

// startDebug starts the pprof listener on addr if addr is set, prints its
// URL on out and returns a function that stops it.
func startDebug(addr string, out io.Writer) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// A CPU profile or trace runs for as long as asked (?seconds=N), so
	// there is no write timeout; reading headers is bounded.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(out, "kmsnode: debug listener: %v\n", err)
		}
	}()
	fmt.Fprintf(out, "  debug:     http://%s/debug/pprof/\n", ln.Addr())
	return func() { _ = srv.Close() }, nil
}
