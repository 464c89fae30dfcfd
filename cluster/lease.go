package cluster

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// lease is this node's read lease (design-notes §2.2). until holds the
// monotonic deadline as nanoseconds since base.
type lease struct {
	d     time.Duration
	base  time.Time // carries the monotonic clock reading
	until atomic.Int64
	// lastSent is when the latest successful renewal was sent.
	lastSent atomic.Int64
	renew    sync.Mutex // one renewal at a time
	// barrierTerm is the Raft term in which this node last completed a
	// Barrier as leader (0: none yet).
	barrierTerm atomic.Uint64
}

func (l *lease) init(d time.Duration) { l.d, l.base = d, time.Now() }

func (l *lease) now() int64 { return int64(time.Since(l.base)) }

func (l *lease) valid() bool { return l.now() < l.until.Load() }

// extend moves the deadline to sent+Δ if that is later.
func (l *lease) extend(sent int64) {
	for {
		cur := l.lastSent.Load()
		if sent <= cur || l.lastSent.CompareAndSwap(cur, sent) {
			break
		}
	}
	v := sent + int64(l.d)
	for {
		cur := l.until.Load()
		if v <= cur || l.until.CompareAndSwap(cur, v) {
			return
		}
	}
}

// singleVoter: this node is the region's only member, so it is the only
// lease holder and no revocation hold is needed.
func (l *lease) singleVoter(c *Cluster) bool {
	f := c.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) == 1
}

// ReadReady returns nil while the node's read lease is valid, else
// ErrNoLease. It is the admission check of every crypto operation and is
// cheap enough for the hot path (one atomic load and a clock read).
func (c *Cluster) ReadReady() error {
	if c.lease.valid() {
		return nil
	}
	return ErrNoLease
}

// RenewLease makes sure the local state includes every write acknowledged
// before the call, for a read that missed (a key created through another
// node a moment ago) or a node without a lease. On a leader that holds a
// valid lease and has caught up in its term this is already true (a write is
// applied here before it is acknowledged), so it returns at once: a stream of
// misses costs no Raft work.
func (c *Cluster) RenewLease(ctx context.Context) error {
	if c.raft.State() == raft.Leader && c.lease.valid() && c.caughtUp() {
		return nil
	}
	return c.renew(ctx)
}

// caughtUp reports whether a Barrier of the current term has completed here.
func (c *Cluster) caughtUp() bool {
	return c.lease.barrierTerm.Load() == c.raft.CurrentTerm()
}

// renew renews the lease. The first renewal of a leadership term commits a
// Barrier, which returns once every earlier entry is applied to this FSM;
// after that a leader only needs to confirm it still leads (VerifyLeader: a
// heartbeat round, no log entry, so an idle region writes nothing).
func (c *Cluster) renew(ctx context.Context) error {
	asked := c.lease.now()
	c.lease.renew.Lock()
	defer c.lease.renew.Unlock()
	if c.lease.lastSent.Load() >= asked && c.lease.valid() {
		// A renewal sent after this caller asked completed while it waited
		// for the lock: its proof covers this caller too. A burst of misses
		// costs one round trip, not one each.
		return nil
	}
	sent := c.lease.now()
	deadline := time.Now().Add(c.lease.d / 2)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if time.Until(deadline) <= 0 || ctx.Err() != nil {
		return ErrNoLease
	}
	if c.raft.State() != raft.Leader {
		return c.renewFollower(ctx, sent, deadline)
	}
	term := c.raft.CurrentTerm()
	var f raft.Future
	if c.lease.barrierTerm.Load() == term {
		f = c.raft.VerifyLeader()
	} else {
		// Our state is at least as new as every write acknowledged before
		// `sent` once this barrier of the current term is applied.
		f = c.raft.Barrier(time.Until(deadline))
	}
	if _, err := waitFuture(ctx, deadline, f, func() (any, error) { return nil, f.Error() }); err != nil {
		return ErrNoLease
	}
	c.lease.barrierTerm.Store(term)
	c.lease.extend(sent)
	return nil
}

// renewFollower asks the leader for a read index (taken after the request
// arrived, confirmed by a quorum) and waits until the local FSM has applied
// it; the lease then runs Δ from `sent`, the moment before the request left.
func (c *Cluster) renewFollower(ctx context.Context, sent int64, deadline time.Time) error {
	addr, _ := c.raft.LeaderWithID()
	if addr == "" || c.tr == nil {
		return ErrNoLease
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	idx, err := c.readIndex(ctx, string(addr))
	if err != nil {
		return ErrNoLease
	}
	if !c.fsm.WaitApplied(ctx, idx, deadline) {
		return ErrNoLease
	}
	c.lease.extend(sent)
	return nil
}

// LeaseRemaining is how long the current lease still runs (0 if none).
func (c *Cluster) LeaseRemaining() time.Duration {
	return max(0, time.Duration(c.lease.until.Load()-c.lease.now()))
}

// leaseLoop renews the lease every Δ/4.
func (c *Cluster) leaseLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.lease.d / 4)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), c.lease.d/2)
		_ = c.renew(ctx)
		cancel()
		if c.gossip != nil && c.removed() {
			// Removed from the region: leave gossip so the leader does not
			// add this node back. Restarting the node makes it rejoin.
			c.log.Warn("this node was removed from the region; leaving gossip")
			c.gossip.leave()
			return
		}
		select {
		case <-c.closing:
			return
		case <-t.C:
		case <-c.raft.LeaderCh():
			// Leadership changed: renew at once rather than a tick later.
		}
	}
}

// removed reports whether this node was a member of the region's
// configuration and no longer is (kmsctl remove-node). Raft shuts down only
// a leader that removes itself; a removed follower just stops hearing from
// the leader, so the configuration is what tells.
func (c *Cluster) removed() bool {
	if c.raft.State() == raft.Shutdown {
		return true
	}
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	in := false
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == c.cfg.NodeID {
			in = true
		}
	}
	if in {
		c.wasMember.Store(true)
		return false
	}
	return c.wasMember.Load() && len(f.Configuration().Servers) > 0
}
