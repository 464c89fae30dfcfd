package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds a TLS handshake on the cluster port.
const handshakeTimeout = 10 * time.Second

// ErrIsolated: the node is cut off (tests), or the transport is closed.
var ErrIsolated = errors.New("transport: node is isolated")

// ErrClosed: the transport is closed.
var ErrClosed = errors.New("transport: closed")

// Config configures the cluster port.
type Config struct {
	// Addr is the address to listen on (host:port; port 0 picks one).
	Addr string
	// Advertise is the address other nodes dial (default: the bound address).
	Advertise string
	Creds     *Credentials
	Logger    *slog.Logger
}

// Transport is a node's cluster port.
type Transport struct {
	creds     *Credentials
	log       *slog.Logger
	ln        net.Listener
	advertise net.Addr

	raft *chanListener
	rpc  *chanListener

	isolated atomic.Bool
	mu       sync.Mutex
	conns    map[*trackedConn]struct{}
	closed   chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	client   *http.Client
}

// Listen opens the cluster port and starts accepting connections.
func Listen(cfg Config) (*Transport, error) {
	if cfg.Creds == nil {
		return nil, errors.New("transport: credentials are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", cfg.Addr, err)
	}
	adv := ln.Addr()
	if cfg.Advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("transport: advertise address: %w", err)
		}
		adv = a
	} else if tcp, ok := adv.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("transport: listening on %s needs an advertise address", cfg.Addr)
	}
	t := &Transport{
		creds: cfg.Creds, log: cfg.Logger, ln: ln, advertise: adv,
		conns: map[*trackedConn]struct{}{}, closed: make(chan struct{}),
	}
	t.raft = newChanListener(adv, t.closed)
	t.rpc = newChanListener(adv, t.closed)
	t.client = &http.Client{Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return t.Dial(ctx, addr, ProtoRPC, "")
		},
		// Keep as many idle connections as writes a follower forwards at
		// once: a connection closed after a burst costs a TLS handshake
		// (about 1 ms of CPU each side) on the next one. With 4, CreateKey
		// through a follower at c=32 spent ~2.5 ms of region CPU per write.
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}}
	t.wg.Add(1)
	go t.acceptLoop()
	return t, nil
}

// Addr is the advertised cluster address (Raft server address).
func (t *Transport) Addr() string { return t.advertise.String() }

// Self is this node's certified identity.
func (t *Transport) Self() Identity { return t.creds.Self }

// RaftLayer is the stream layer for raft.NewNetworkTransport.
func (t *Transport) RaftLayer() raft.StreamLayer { return raftLayer{t} }

// RPCListener yields the internal RPC connections, for an http.Server.
func (t *Transport) RPCListener() net.Listener { return t.rpc }

// RPCClient is an HTTP client whose connections are mutual-TLS kms-rpc/1
// connections to nodes of the region. URLs are https://<cluster addr>/….
func (t *Transport) RPCClient() *http.Client { return t.client }

// Dial opens a verified connection to addr speaking proto. want, when set,
// is the node ID the peer's certificate must carry.
func (t *Transport) Dial(ctx context.Context, addr, proto, want string) (net.Conn, error) {
	if t.isolated.Load() {
		return nil, ErrIsolated
	}
	select {
	case <-t.closed:
		return nil, ErrClosed
	default:
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: handshakeTimeout}, Config: t.creds.clientConfig(proto, want)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return t.track(c)
}

// PeerIdentity verifies a node by dialing it: the returned identity is the
// one its certificate proves.
func (t *Transport) PeerIdentity(ctx context.Context, addr, want string) (Identity, error) {
	c, err := t.Dial(ctx, addr, ProtoRPC, want)
	if err != nil {
		return Identity{}, err
	}
	defer c.Close()
	tc := c.(*trackedConn).Conn.(*tls.Conn)
	cs := tc.ConnectionState()
	return IdentityOf(cs.PeerCertificates[0])
}

// Isolate cuts the node off (true) or reconnects it (false): every live
// cluster connection is closed and new ones are refused in both directions.
// For tests of partitions and lost nodes.
func (t *Transport) Isolate(on bool) {
	t.isolated.Store(on)
	if !on {
		return
	}
	t.closeAll()
}

// closeAll closes every live cluster connection.
func (t *Transport) closeAll() {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	t.client.CloseIdleConnections()
}

// Close stops accepting and closes every connection.
func (t *Transport) Close() error {
	t.once.Do(func() {
		close(t.closed)
		t.ln.Close()
		t.closeAll()
	})
	t.wg.Wait()
	return nil
}

func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-t.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.log.Error("cluster port accept failed", "err", err)
			return
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.handshake(c)
		}()
	}
}

// handshake authenticates an inbound connection and hands it to Raft or RPC.
func (t *Transport) handshake(raw net.Conn) {
	if t.isolated.Load() {
		raw.Close()
		return
	}
	tc := tls.Server(raw, t.creds.serverConfig())
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	go func() {
		select {
		case <-t.closed: // Close does not wait out a slow handshake
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := tc.HandshakeContext(ctx); err != nil {
		t.log.Warn("cluster port refused a connection", "remote", raw.RemoteAddr().String(), "reason", err.Error())
		raw.Close()
		return
	}
	c, err := t.track(tc)
	if err != nil {
		return
	}
	target := t.rpc
	if tc.ConnectionState().NegotiatedProtocol == ProtoRaft {
		target = t.raft
	}
	if !target.push(c) {
		c.Close()
	}
}

func (t *Transport) track(c net.Conn) (net.Conn, error) {
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.closed:
		c.Close()
		return nil, ErrClosed
	default:
	}
	if t.isolated.Load() {
		c.Close()
		return nil, ErrIsolated
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

// trackedConn is a cluster connection the transport can cut.
type trackedConn struct {
	net.Conn
	t    *Transport
	once sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.t.isolated.Load() {
		c.Close()
		return 0, ErrIsolated
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	if c.t.isolated.Load() {
		c.Close()
		return 0, ErrIsolated
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// raftLayer adapts the transport to raft.StreamLayer.
type raftLayer struct{ t *Transport }

func (l raftLayer) Accept() (net.Conn, error) { return l.t.raft.Accept() }
func (l raftLayer) Close() error              { return nil } // the transport owns the listener
func (l raftLayer) Addr() net.Addr            { return l.t.advertise }
func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return l.t.Dial(ctx, string(addr), ProtoRaft, "")
}

// chanListener is a net.Listener fed by the demultiplexer. Closing it stops
// its consumer (an http.Server waits for Accept to return); the transport's
// own close stops them all.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed <-chan struct{} // the transport's
	done   chan struct{}   // this listener's
	once   sync.Once
}

func newChanListener(addr net.Addr, closed <-chan struct{}) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), closed: closed, done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
