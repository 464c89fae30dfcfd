package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsnode/kmsnode/api"
	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/internal/metrics"
	"github.com/kmsnode/kmsnode/kms"
	"github.com/kmsnode/kmsnode/transport"
)

// Node is one running kmsnode process.
type Node struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm.FSM
	cluster *cluster.Cluster
	tr      *transport.Transport
	kms     *kms.Service
	sink    *audit.FileSink
	signer  *auditSigner // the audit signing key (audit.go)
	ln      net.Listener
	srv     *http.Server
	apiTLS  *apiTLS // the API certificate, reloadable; nil for plain HTTP
	served  chan error
	// CreatedUnsealKey is true when Start generated a development unseal key.
	CreatedUnsealKey bool
	// rootCreds is set when this node created the region's root identity
	// (identity.go), until TakeRootCredentials hands it out.
	rootMu    sync.Mutex
	rootCreds *RootCredentials
	// A node that started sealed runs background work (sealed.go).
	sealedStop context.CancelFunc
	sealedDone chan struct{}
	// Backups: one restore at a time; every node opens a restored seal
	// (snapshot.go).
	restoring sync.Mutex
	reopen    restoreWatch

	// Prometheus metrics and their optional listener (metrics.go).
	metrics    *metrics.Registry
	metricsLn  net.Listener
	metricsSrv *http.Server
}

// Start builds and starts a node and returns once it is unsealed and
// serving, or, with a provider that starts sealed (shamir), once it serves
// sealed (sealed.go).
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.SchedulerInterval == 0 {
		cfg.SchedulerInterval = time.Second
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	var tr *transport.Transport
	if cfg.Cluster.Addr != "" {
		if tr, err = openTransport(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.NodeID == "" {
		if cfg.NodeID, err = persistentNodeID(cfg.DataDir); err != nil {
			if tr != nil {
				tr.Close()
			}
			return nil, err
		}
	}
	// A data directory without Raft state is a new region: only then may a
	// development unseal key be created.
	_, statErr := os.Stat(filepath.Join(cfg.DataDir, "raft", "raft.db"))
	fresh := errors.Is(statErr, os.ErrNotExist)
	nd := &Node{cfg: cfg, log: cfg.Logger, fsm: fsm.New(), tr: tr, served: make(chan error, 1)}
	n = nd
	defer func() {
		if err != nil {
			nd.Close() // n itself is nil on the error path
		}
	}()
	n.cluster, err = cluster.Open(cluster.Config{
		NodeID: cfg.NodeID, DataDir: cfg.DataDir, Lease: cfg.Lease,
		HeartbeatTimeout: cfg.RaftHeartbeatTimeout, ElectionTimeout: cfg.RaftElectionTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs,
		Logger: cfg.Logger, Transport: tr, Region: cfg.Region, APIAddr: cmp.Or(cfg.APIAdvertise, cfg.APIAddr),
		BootstrapExpect: cfg.Cluster.BootstrapExpect, StabilizeTime: cfg.Cluster.StabilizeTime,
		Gossip: cluster.GossipConfig{
			BindAddr: cfg.Cluster.GossipAddr, AdvertiseAddr: cfg.Cluster.GossipAdvertise,
			Key: cfg.Cluster.GossipKey, Join: cfg.Cluster.Join,
		},
	}, n.fsm)
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("node: the data directory %s is in use by another kmsnode process", cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	akids, principals := operatorCredentials(&cfg)
	n.kms = kms.New(kms.Config{
		Region: cfg.Region, AccountID: cfg.AccountID, Partition: cfg.Partition,
		Clock: cfg.Clock, Logger: cfg.Logger, AdminAccessKeys: akids, OperatorPrincipals: principals,
	}, n.cluster, n.fsm)
	sealed, err := n.unseal(ctx, fresh)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		if err := n.createRootIdentity(ctx, fresh); err != nil {
			return nil, err
		}
	}
	n.cluster.OnLeader(n.runLeaderTasks)
	n.newMetrics() // metrics.go: before the audit sink, whose writes it times
	if err := n.openAudit(); err != nil {
		if sealed != nil {
			sealed.Wipe()
		}
		return nil, err
	}
	// Every node opens a seal that a restored snapshot brings (snapshot.go).
	n.startRestoreWatch()
	if err := n.serve(); err != nil {
		if sealed != nil {
			sealed.Wipe()
		}
		return nil, err
	}
	if sealed != nil {
		n.startSealed(sealed) // returns at once; the node is sealed (sealed.go)
	}
	return n, nil
}

// unseal opens the root key with the configured provider. A provider that
// starts sealed (shamir) is returned instead, for startSealed.
func (n *Node) unseal(ctx context.Context, fresh bool) (sealedStarter, error) {
	u, created, err := loadUnsealer(&n.cfg, fresh)
	if err != nil {
		return nil, err
	}
	if s, ok := u.(sealedStarter); ok {
		n.kms.SetSealProvider(u.Name())
		return s, nil
	}
	if w, ok := u.(interface{ Wipe() }); ok {
		defer w.Wipe()
	}
	n.CreatedUnsealKey = created
	ctx, cancel := context.WithTimeout(ctx, n.cfg.StartTimeout)
	defer cancel()
	return nil, n.kms.Unseal(ctx, u)
}

func (n *Node) serve() error {
	store := n.credentialStore()
	ah := n.auditHandler() // audit.go
	handler := api.New(api.Config{
		KMS:      n.kms,
		Verifier: sigv4.NewVerifier(store, sigv4.Options{Service: "kms", Region: n.cfg.Region}),
		Audit:    ah, Logger: n.log, Region: n.cfg.Region, NodeID: n.cfg.NodeID,
		Ready: n.Ready, Operator: n.operator(), Observer: n.metrics.Requests(),
		RateLimit: api.RateLimit{PerSecond: n.cfg.RateLimit, Burst: n.cfg.RateBurst},
	})
	if n.cfg.TLSCertFile != "" {
		t, err := newAPITLS(n.cfg, n.log)
		if err != nil {
			return err
		}
		n.apiTLS = t
	}
	ln, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("node: listen on %s: %w", n.cfg.APIAddr, err)
	}
	n.ln = ln
	n.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // whole request, body included
		WriteTimeout:      60 * time.Second, // covers a write waiting for Raft
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	if n.apiTLS != nil {
		n.srv.TLSConfig = n.apiTLS.serverConfig()
	}
	go func() {
		var err error
		if n.apiTLS != nil {
			err = n.srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig (tls.go)
		} else {
			err = n.srv.Serve(ln)
		}
		n.served <- err
	}()
	return n.serveMetrics() // metrics.go
}

// Ready reports whether the node can serve crypto now (unsealed, holding a
// read lease).
func (n *Node) Ready() error {
	if n.kms.Sealed() {
		return errors.New("sealed")
	}
	if err := n.auditReady(); err != nil { // audit.go: the node refuses calls meanwhile
		return err
	}
	return n.cluster.ReadReady()
}

// URL is the API endpoint, e.g. http://127.0.0.1:8080.
func (n *Node) URL() string {
	scheme := "http"
	if n.cfg.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + n.ln.Addr().String()
}

// Config returns the node's configuration (with defaults filled in).
func (n *Node) Config() Config { return n.cfg }

// Cluster exposes the Raft side (tests, status).
func (n *Node) Cluster() *cluster.Cluster { return n.cluster }

// Transport exposes the cluster port (tests cut nodes off with Isolate);
// nil for a standalone node.
func (n *Node) Transport() *transport.Transport { return n.tr }

// FSM exposes the state machine (tests, status).
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Done is closed-with-error when the HTTP server stops unexpectedly.
func (n *Node) Done() <-chan error { return n.served }

// Close stops the node: API first (draining requests), then leader tasks and
// Raft, then the audit sink; the keyring and material cache are zeroed.
func (n *Node) Close() error {
	var errs []error
	n.stopSealed()
	n.reopen.stopWatch() // snapshot.go
	errs = append(errs, n.stopMetrics())
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := n.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if n.cluster != nil {
		errs = append(errs, n.cluster.Close())
	}
	if n.tr != nil {
		errs = append(errs, n.tr.Close())
	}
	// Before the keyring is wiped: the last checkpoint may need it to open
	// the audit key (audit.go).
	errs = append(errs, n.closeAudit())
	if n.kms != nil {
		n.kms.Close()
	}
	return errors.Join(errs...)
}

// persistentNodeID reads DataDir/node-id, creating a random UUID there the
// first time, so a node keeps its Raft server ID across restarts.
func persistentNodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	h := hex.EncodeToString(b[:])
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node: write node ID: %w", err)
	}
	return id, nil
}
