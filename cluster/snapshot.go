package cluster

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Backups (kmsctl snapshot save and restore) use Raft's user snapshot and
// user restore: the bytes are exactly those the state machine persists for
// log compaction (fsm's encoding, sealed material only), so a backup is
// consistent at one Raft index and restores through the same code that
// installs a snapshot on a follower.

// ErrNotLeader: the operation runs on the leader only (a restore).
var ErrNotLeader = errors.New("cluster: this node is not the leader")

// SnapshotInfo is where a snapshot stands in the Raft log.
type SnapshotInfo struct {
	Index, Term uint64
	Size        int64
	// Version is Raft's snapshot format version.
	Version int
}

// UserSnapshot takes a snapshot of this node's state now and opens it from
// the snapshot store; the caller reads and closes it. It also compacts this
// node's log, as an automatic snapshot would.
func (c *Cluster) UserSnapshot() (SnapshotInfo, io.ReadCloser, error) {
	f := c.raft.Snapshot()
	if err := f.Error(); err != nil {
		return SnapshotInfo{}, nil, fmt.Errorf("cluster: snapshot: %w", err)
	}
	meta, rc, err := f.Open()
	if err != nil {
		return SnapshotInfo{}, nil, fmt.Errorf("cluster: open snapshot: %w", err)
	}
	return SnapshotInfo{Index: meta.Index, Term: meta.Term, Size: meta.Size, Version: int(meta.Version)}, rc, nil
}

// RestoreSnapshot replaces the region's state by the snapshot read from r
// (Raft's user restore), on the leader. It keeps the region's current
// membership, gives the snapshot an index above both its own and the
// region's last one, leaving a gap in the log so that every follower
// installs the snapshot, and returns once a quorum has (a no-op entry after
// it committed). A read error from r before the end leaves the state
// untouched; the caller must have checked that the state machine accepts
// the bytes, since Raft cannot undo a failed FSM restore (it panics).
func (c *Cluster) RestoreSnapshot(info SnapshotInfo, r io.Reader, timeout time.Duration) error {
	if c.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersion(info.Version), Index: info.Index, Term: info.Term, Size: info.Size}
	if err := c.raft.Restore(meta, r, timeout); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return fmt.Errorf("cluster: restore: %w", err)
	}
	return nil
}

// Leader returns the leader's node ID and cluster address as this node
// knows them ("" when it knows none).
func (c *Cluster) Leader() (id, addr string) {
	a, i := c.raft.LeaderWithID()
	return string(i), string(a)
}

// RaftStatus is Raft's view from this node, for kmsctl status.
type RaftStatus struct {
	State             string // Leader, Follower, Candidate, Shutdown
	Term              uint64
	LastLogIndex      uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	LastSnapshotIndex uint64
	// LastContact is how long ago a follower last heard from the leader
	// (0 on the leader, -1 when it never did).
	LastContact time.Duration
}

// RaftStatus reads Raft's statistics.
func (c *Cluster) RaftStatus() RaftStatus {
	st := c.raft.Stats()
	u := func(k string) uint64 {
		v, _ := strconv.ParseUint(st[k], 10, 64)
		return v
	}
	rs := RaftStatus{
		State: c.raft.State().String(), Term: u("term"), LastLogIndex: u("last_log_index"),
		CommitIndex: u("commit_index"), AppliedIndex: u("applied_index"), LastSnapshotIndex: u("last_snapshot_index"),
	}
	switch lc := st["last_contact"]; lc {
	case "0":
	case "never":
		rs.LastContact = -1
	default:
		if d, err := time.ParseDuration(lc); err == nil {
			rs.LastContact = d
		}
	}
	return rs
}

// LeaseDuration is the read lease Δ.
func (c *Cluster) LeaseDuration() time.Duration { return c.lease.d }
