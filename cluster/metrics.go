package cluster

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftMetrics is a point-in-time view of this node's Raft group and read
// lease, for monitoring (internal/metrics reads it at every scrape).
type RaftMetrics struct {
	// State is "Leader", "Follower", "Candidate" or "Shutdown".
	State        string
	Term         uint64
	CommitIndex  uint64 // highest index this node knows to be committed
	AppliedIndex uint64 // highest index handed to the FSM
	LastLogIndex uint64 // highest index in this node's log
	// LastContact is how long ago this node last heard from a leader: 0 on
	// the leader, +Inf when it never has since it started.
	LastContact time.Duration
	// Voters and NonVoters count the servers of the latest configuration;
	// Peers is the voters other than this node (0 when it is not a voter).
	Voters, NonVoters, Peers int
	// LeaseAge is how long ago the renewal that the current lease runs
	// from was sent (+Inf before the first renewal); the node serves crypto
	// while LeaseAge < Lease.
	LeaseAge time.Duration
	Lease    time.Duration // Δ, the configured lease
	// LastSnapshotIndex and LastSnapshotSize describe the newest snapshot
	// this node took or installed (0 before the first one).
	LastSnapshotIndex uint64
	LastSnapshotSize  int64
}

// infinite is how RaftMetrics says "never".
const infinite = time.Duration(math.MaxInt64)

// Metrics returns the node's Raft and lease figures. It reads Raft's own
// atomics and, when the newest snapshot changed since the last call, the
// snapshot store's metadata files; it never waits for Raft's main loop, so
// a scrape cannot stall behind a busy leader.
func (c *Cluster) Metrics() RaftMetrics {
	m := RaftMetrics{
		State:        c.raft.State().String(),
		Term:         c.raft.CurrentTerm(),
		CommitIndex:  c.raft.CommitIndex(),
		AppliedIndex: c.raft.AppliedIndex(),
		LastLogIndex: c.raft.LastIndex(),
		Lease:        c.lease.d,
		LeaseAge:     infinite,
		LastContact:  infinite,
	}
	if c.raft.State() == raft.Leader {
		m.LastContact = 0
	} else if last := c.raft.LastContact(); !last.IsZero() {
		m.LastContact = time.Since(last)
	}
	if sent := c.lease.lastSent.Load(); sent > 0 {
		m.LeaseAge = time.Duration(c.lease.now() - sent)
	}
	if f := c.raft.GetConfiguration(); f.Error() == nil { // an atomic read, no round trip
		self := false
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				m.Voters++
				if string(s.ID) == c.cfg.NodeID {
					self = true
				}
			} else {
				m.NonVoters++
			}
		}
		if self {
			m.Peers = m.Voters - 1
		}
	}
	m.LastSnapshotIndex, m.LastSnapshotSize = c.snapMeta.get(c)
	return m
}

// snapshotMeta caches the size of the newest snapshot, which only the
// snapshot store's metadata file on disk knows: it is read again only when
// Raft reports a new last snapshot index.
type snapshotMeta struct {
	mu    sync.Mutex
	index uint64
	size  int64
}

func (s *snapshotMeta) get(c *Cluster) (uint64, int64) {
	idx, err := strconv.ParseUint(c.raft.Stats()["last_snapshot_index"], 10, 64)
	if err != nil || idx == 0 || c.snaps == nil {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx != s.index {
		metas, err := c.snaps.List() // newest first
		if err != nil || len(metas) == 0 {
			return idx, s.size
		}
		s.index, s.size = idx, metas[0].Size
		for _, m := range metas {
			if m.Index == idx {
				s.size = m.Size
			}
		}
	}
	return s.index, s.size
}
