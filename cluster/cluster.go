package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/transport"
)

// Cluster is this node's membership in its region's Raft group.
type Cluster struct {
	cfg   Config
	fsm   *fsm.FSM
	raft  *raft.Raft
	store *raftboltdb.BoltStore
	trans raft.Transport
	snaps raft.SnapshotStore

	snapMeta snapshotMeta // metrics.go

	lease lease
	log   *slog.Logger

	// Set with a Transport (a real region); nil for a standalone node.
	tr       *transport.Transport
	gossip   *gossip
	rpcSrv   *http.Server
	progress progressTable // followers' lease renewals, for promotion
	// wasMember: this node has been in the region's configuration.
	wasMember atomic.Bool
	// removedAt: nodes this leader removed, not re-admitted for a while.
	removedMu sync.Mutex
	removedAt map[string]time.Time

	mu        sync.Mutex
	tasks     []func(ctx context.Context) // leader-only tasks
	session   *leaderSession              // current leadership term, if leading
	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// Open starts Raft over the data directory. A directory without Raft state
// is bootstrapped as a one-voter region; one with state resumes it (the
// latest snapshot is restored into f, later entries are replayed once the
// node leads or hears from a leader).
func Open(cfg Config, f *fsm.FSM) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	dir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{
			Timeout:        time.Second,
			FreelistType:   bbolt.FreelistMapType,
			NoFreelistSync: true,
		},
		MsgpackUseNewTimeFormat: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: open log store: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: cfg.LogOutput})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, logger)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = logger
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	// Group commit: the leader takes up to MaxAppendEntries (64, the
	// default) waiting commands off the apply channel at once and writes
	// them with one bolt transaction, one fsync. 64 is above the number of
	// writes in flight in `make bench` (c=32), so it never limits a batch.
	rc.BatchApplyCh = true
	rc.ShutdownOnRemove = true
	// An idle leader tells followers the commit index every 1–2× this; a
	// write forwarded by a follower is readable there only then. 50 ms (the
	// default) made a forwarded CreateKey take ~80 ms; 10 ms costs a small
	// empty AppendEntries per follower every 10–20 ms when idle.
	rc.CommitTimeout = 10 * time.Millisecond
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	has, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c := &Cluster{cfg: cfg, fsm: f, store: store, snaps: snaps, log: cfg.Logger, tr: cfg.Transport, closing: make(chan struct{})}
	c.lease.init(cfg.Lease)
	if c.tr == nil {
		// A standalone node: one voter, so the in-memory transport is
		// enough, and the first start bootstraps it.
		addr, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
		c.trans = trans
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: addr}}}
			if err := raft.BootstrapCluster(rc, logs, store, snaps, trans, conf); err != nil {
				store.Close()
				return nil, fmt.Errorf("cluster: bootstrap: %w", err)
			}
		}
	} else {
		c.gossip, err = startGossip(c)
		if err != nil {
			store.Close()
			return nil, err
		}
		c.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:                  c.tr.RaftLayer(),
			MaxPool:                 3,
			Timeout:                 10 * time.Second,
			Logger:                  logger,
			ServerAddressProvider:   c.gossip,
			MsgpackUseNewTimeFormat: true,
		})
	}
	c.raft, err = raft.NewRaft(rc, f, logs, store, snaps, c.trans)
	if err != nil {
		if c.gossip != nil {
			c.gossip.shutdown()
		}
		store.Close()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	c.wg.Add(2)
	go c.leaseLoop()
	go c.leaderLoop()
	c.OnLeader(c.levelLoop)
	if c.tr != nil {
		c.startRPC()
		c.OnLeader(c.reconcileLoop)
		if !has && cfg.BootstrapExpect > 0 {
			c.wg.Add(1)
			go c.bootstrapLoop()
		}
		c.wg.Add(1)
		go c.joinLoop()
	}
	return c, nil
}

// Apply proposes cmd and returns the FSM's answer: nil, a deterministic
// rejection from package fsm, or a cluster error. On a follower the command
// is forwarded to the leader over the cluster port, and Apply returns once
// this node has applied it too, so the caller reads its own write here. It
// retries, with the same request ID, while there is no leader or leadership
// was lost mid-apply, until ctx or the apply timeout ends.
func (c *Cluster) Apply(ctx context.Context, cmd fsm.Command) error {
	if err := c.checkLevel(ctx, cmd); err != nil {
		return err
	}
	data, err := fsm.Encode(cmd)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(c.cfg.ApplyTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	backoff := 10 * time.Millisecond
	for {
		if time.Until(deadline) <= 0 || ctx.Err() != nil {
			return ErrNoLeader
		}
		var (
			result error
			index  uint64
			err    error
		)
		if c.raft.State() == raft.Leader {
			result, err = c.applyLocal(ctx, data, deadline)
		} else if addr, _ := c.raft.LeaderWithID(); addr != "" && c.tr != nil {
			result, index, err = c.forwardApply(ctx, string(addr), data, deadline)
		} else {
			err = errRetry
		}
		switch {
		case err == nil:
			if index > 0 {
				c.waitApplied(ctx, index, deadline)
			}
			return result
		case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, ErrClosed):
			return ErrClosed
		case errors.Is(err, errApplyWait):
			return ErrNoLeader
		case !errors.Is(err, errRetry) && !retryable(err):
			return fmt.Errorf("cluster: apply: %w", err)
		}
		if time.Now().Add(backoff).After(deadline) {
			return ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return ErrNoLeader
		case <-c.closing:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// errRetry: no leader known, or the one asked no longer leads; try again.
var errRetry = errors.New("cluster: no leader yet")

// applyLocal applies on this leader and unwraps the FSM's answer.
func (c *Cluster) applyLocal(ctx context.Context, data []byte, deadline time.Time) (result error, err error) {
	resp, err := c.applyOnce(ctx, data, deadline)
	if err != nil {
		return nil, err
	}
	if e, ok := resp.(error); ok {
		return e, nil
	}
	return nil, nil
}

// waitApplied waits (bounded by the deadline, at most a second) until this
// node's FSM includes index, so a follower answers after it can read the
// write it forwarded. A node that falls behind still answered correctly:
// the write is committed, and a later miss renews the lease.
func (c *Cluster) waitApplied(ctx context.Context, index uint64, deadline time.Time) {
	limit := time.Now().Add(time.Second)
	if deadline.Before(limit) {
		limit = deadline
	}
	c.fsm.WaitApplied(ctx, index, limit)
}

// errApplyWait: the caller stopped waiting for a commit (deadline or ctx);
// the outcome is unknown, which the request ID makes safe to retry.
var errApplyWait = errors.New("cluster: stopped waiting for the commit")

// applyOnce applies on this leader. Raft's own timeout bounds only the
// enqueue, so the wait for the commit is bounded here, against the deadline
// and ctx.
func (c *Cluster) applyOnce(ctx context.Context, data []byte, deadline time.Time) (any, error) {
	f := c.raft.Apply(data, time.Until(deadline))
	return waitFuture(ctx, deadline, f, func() (any, error) {
		if err := f.Error(); err != nil {
			return nil, err
		}
		return f.Response(), nil
	})
}

// waitFuture runs get (which blocks on a raft future) until it returns, the
// deadline passes or ctx ends. A raft future cannot be cancelled; an
// abandoned wait finishes in the background.
func waitFuture(ctx context.Context, deadline time.Time, f raft.Future, get func() (any, error)) (any, error) {
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := get()
		done <- result{v, err}
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
		return nil, errApplyWait
	case <-ctx.Done():
		return nil, errApplyWait
	}
}

func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrEnqueueTimeout)
}

// ApplyRevoking applies a change that takes permissions away (DisableKey,
// ScheduleKeyDeletion) and returns only once every lease granted before it
// has run out, so no node can still use the key when the caller hears
// success (design-notes §2.2, revocation rule).
func (c *Cluster) ApplyRevoking(ctx context.Context, cmd fsm.Command) error {
	if err := c.Apply(ctx, cmd); err != nil {
		return err
	}
	hold := c.cfg.Lease + c.cfg.Lease/1000 + 10*time.Millisecond
	if c.lease.singleVoter(c) {
		// With one voter the only lease holder is this node, which applied
		// the change before Apply returned.
		return nil
	}
	select {
	case <-time.After(hold):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsLeader reports whether this node leads its region now.
func (c *Cluster) IsLeader() bool { return c.raft.State() == raft.Leader }

// Stats returns Raft's own statistics (state, term, indexes) for status pages.
func (c *Cluster) Stats() map[string]string { return c.raft.Stats() }

// Snapshot asks Raft to take a snapshot now (log compaction; tests).
func (c *Cluster) Snapshot() error { return c.raft.Snapshot().Error() }

// Close stops leader tasks and Raft and closes the stores. It is safe to call
// more than once and from several goroutines; every call returns once the
// shutdown is complete. A leader task must not call it (Close waits for the
// tasks).
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.shutdown() })
	return c.closeErr
}

func (c *Cluster) shutdown() error {
	if c.tr != nil {
		c.handOff()
	}
	close(c.closing)
	c.wg.Wait()
	if c.rpcSrv != nil {
		_ = c.rpcSrv.Close()
	}
	err := c.raft.Shutdown().Error()
	if c.gossip != nil {
		c.gossip.leave()
	}
	if cerr := c.store.Close(); err == nil {
		err = cerr
	}
	if t, ok := c.trans.(interface{ Close() error }); ok {
		_ = t.Close()
	}
	return err
}

// handOff transfers leadership before a graceful stop, so the region does
// not wait for an election timeout (design-notes §3.2, leave).
func (c *Cluster) handOff() {
	if c.raft.State() != raft.Leader || c.voters() < 2 {
		return
	}
	f := c.raft.LeadershipTransfer()
	deadline := time.Now().Add(5 * time.Second)
	if _, err := waitFuture(context.Background(), deadline, f, func() (any, error) { return nil, f.Error() }); err != nil {
		c.log.Warn("leadership transfer before shutdown failed", "err", err)
	}
}

// voters counts the voters of the current configuration.
func (c *Cluster) voters() int {
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			n++
		}
	}
	return n
}
