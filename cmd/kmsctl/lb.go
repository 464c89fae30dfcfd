package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// kmsctl lb is a small TCP load balancer for a region, so that a container
// deployment needs no image but ours (deploy/compose). It passes TLS through
// untouched: clients verify the node's certificate, mutual TLS to the API
// (--tls-client-ca-file) keeps working, and SigV4 signs the Host the client
// used. It checks every backend's /readyz and sends new connections round
// robin to the ready ones; when none is ready, to the ones that answer at all
// (a node without a lease answers a retryable 503, which tells the client
// more than a refused connection). When a backend stops being ready the
// balancer closes the connections it holds to it: an L4 balancer cannot move
// a kept-alive HTTP connection, and a client pinned to a cut-off or paused
// node would otherwise keep failing; the SDKs retry a reset connection on a
// new one, which goes to a ready node.
const lbUsage = "kmsctl lb --listen ADDR --backend HOST:PORT [--backend …] [--ca-file FILE] [--check-interval D] [--check-timeout D] [--check-scheme https|http]"

func lbCmd(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl lb", pflag.ContinueOnError)
	listen := fs.String("listen", "0.0.0.0:8443", "address to accept clients on")
	backends := fs.StringSlice("backend", nil, "API address of a node, host:port (repeated or comma-separated)")
	caFile := fs.String("ca-file", "", "PEM file of the CA that issued the nodes' API certificates (for the health checks)")
	interval := fs.Duration("check-interval", time.Second, "how often each backend's /readyz is checked")
	timeout := fs.Duration("check-timeout", 2*time.Second, "how long a check may take before the backend counts as down")
	scheme := fs.String("check-scheme", "https", "scheme of the health checks: https, or http for nodes listening on loopback")
	if ok, err := parseFlags(fs, args, 0, lbUsage, stderr); !ok {
		return err
	}
	if len(*backends) == 0 {
		fmt.Fprintln(stderr, "kmsctl: lb needs at least one --backend")
		return errUsage
	}
	if *scheme != "https" && *scheme != "http" {
		fmt.Fprintln(stderr, "kmsctl: --check-scheme is https or http")
		return errUsage
	}
	if *interval <= 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "kmsctl: --check-interval and --check-timeout must be positive")
		return errUsage
	}
	client, err := probeClient(*caFile, *timeout)
	if err != nil {
		return err
	}
	b := newBalancer(*backends, client, *scheme, *interval, slog.New(slog.NewTextHandler(stderr, nil)))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stdout, "kmsctl lb listening on %s, backends %v\n", ln.Addr(), *backends)
	return b.serve(ctx, ln)
}

// Backend states, from the last health check.
const (
	backendDown  int32 = iota // no HTTP answer
	backendAlive              // answers, but /readyz fails (sealed, no lease, no audit)
	backendReady              // /readyz answers 200
)

var stateNames = [...]string{"down", "alive", "ready"}

type backend struct {
	addr  string
	state atomic.Int32
	mu    sync.Mutex
	conns map[net.Conn]struct{} // both ends of every proxied connection
}

type balancer struct {
	backends []*backend
	next     atomic.Uint64
	check    *http.Client
	scheme   string
	interval time.Duration
	log      *slog.Logger
	wg       sync.WaitGroup
}

func newBalancer(addrs []string, check *http.Client, scheme string, interval time.Duration, log *slog.Logger) *balancer {
	b := &balancer{check: check, scheme: scheme, interval: interval, log: log}
	for _, a := range addrs {
		b.backends = append(b.backends, &backend{addr: a, conns: map[net.Conn]struct{}{}})
	}
	return b
}

// serve runs the health checks and accepts connections until ctx ends, then
// closes every proxied connection.
func (b *balancer) serve(ctx context.Context, ln net.Listener) error {
	// Know the backends' states before the first client arrives.
	b.checkAll(ctx)
	for _, be := range b.backends {
		b.wg.Add(1)
		go b.checkLoop(ctx, be)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var err error
	for {
		var c net.Conn
		c, err = ln.Accept()
		if err != nil {
			break
		}
		b.wg.Add(1)
		go b.handle(ctx, c)
	}
	for _, be := range b.backends {
		be.closeAll()
	}
	b.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// candidates lists the backends to try for a new connection: the ready ones
// from a rotating start, else the alive ones, else all (the checks may lag a
// node that just came back).
func (b *balancer) candidates() []*backend {
	n := len(b.backends)
	start := int(b.next.Add(1) % uint64(n))
	var out []*backend
	for _, want := range []int32{backendReady, backendAlive, backendDown} {
		for i := range n {
			be := b.backends[(start+i)%n]
			if be.state.Load() == want {
				out = append(out, be)
			}
		}
		if len(out) > 0 && want != backendDown {
			return out
		}
	}
	return out
}

func (b *balancer) handle(ctx context.Context, c net.Conn) {
	defer b.wg.Done()
	for _, be := range b.candidates() {
		d := net.Dialer{Timeout: 2 * time.Second}
		up, err := d.DialContext(ctx, "tcp", be.addr)
		if err != nil {
			b.log.Warn("dial backend", "backend", be.addr, "err", err)
			continue
		}
		be.proxy(c, up)
		return
	}
	c.Close()
}

// proxy copies both ways until both directions end or the backend is
// drained, then closes both connections.
func (be *backend) proxy(client, up net.Conn) {
	be.mu.Lock()
	be.conns[client] = struct{}{}
	be.conns[up] = struct{}{}
	be.mu.Unlock()
	defer func() {
		be.mu.Lock()
		delete(be.conns, client)
		delete(be.conns, up)
		be.mu.Unlock()
		client.Close()
		up.Close()
	}()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Pass the half-close on, so a client that finished sending still
		// gets the answer.
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, client)
	go pipe(client, up)
	<-done
	<-done
}

func (be *backend) closeAll() {
	be.mu.Lock()
	defer be.mu.Unlock()
	for c := range be.conns {
		c.Close()
	}
}

// checkLoop checks one backend every interval; each backend has its own,
// so one that hangs until the check times out (a paused node) delays no
// other's.
func (b *balancer) checkLoop(ctx context.Context, be *backend) {
	defer b.wg.Done()
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.checkOne(ctx, be)
		}
	}
}

// checkAll checks every backend at once and returns when all are done.
func (b *balancer) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, be := range b.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.checkOne(ctx, be)
		}()
	}
	wg.Wait()
}

func (b *balancer) checkOne(ctx context.Context, be *backend) {
	st, detail := backendDown, ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.scheme+"://"+be.addr+"/readyz", nil)
	if err == nil {
		var resp *http.Response
		if resp, err = b.check.Do(req); err == nil {
			line, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
			resp.Body.Close()
			st, detail = backendAlive, fmt.Sprintf("%d %s", resp.StatusCode, firstLine(line))
			if resp.StatusCode == http.StatusOK {
				st, detail = backendReady, ""
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		detail = err.Error()
	}
	old := be.state.Swap(st)
	if old == st {
		return
	}
	b.log.Info("backend state", "backend", be.addr, "from", stateNames[old], "to", stateNames[st], "detail", detail)
	if old == backendReady {
		be.closeAll()
	}
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\n' || c == '\r' || c < 0x20 || c == 0x7f {
			return string(b[:i])
		}
	}
	return string(b)
}
