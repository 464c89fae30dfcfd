package node

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/kmsnode/kmsnode/cluster"
)

// Version is this build's release, as `kmsnode version` prints it; the
// Makefile sets it (-ldflags -X). Without it, the module version and VCS
// revision Go stamped into the binary are reported.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v
}

// Status answers KmsNodeOperator.Status (kmsctl status): the node and its
// region as this node sees them. Nothing in it is secret.
type Status struct {
	Region    string
	AccountId string
	NodeId    string
	Version   string
	GoVersion string
	Time      time.Time
	// State is this node's Raft role: Leader, Follower, Candidate.
	State         string
	LeaderId      string `json:",omitempty"`
	LeaderAddress string `json:",omitempty"`
	Members       []cluster.Member
	Raft          RaftStatus
	Lease         LeaseStatus
	Seal          SealStatus
	Keys          int
	Identities    int
}

// RaftStatus is Raft's position on this node.
type RaftStatus struct {
	Term              uint64
	LastLogIndex      uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	LastSnapshotIndex uint64
	// FSMAppliedIndex is the last command the state includes (barriers and
	// configuration entries do not count).
	FSMAppliedIndex uint64
	// LastContactMs: how long ago a follower heard from the leader (0 on
	// the leader, -1 never).
	LastContactMs int64
}

// LeaseStatus is the node's read lease: crypto is served only while Held.
type LeaseStatus struct {
	Held        bool
	AgeMs       int64 // since the renewal that granted it was sent
	RemainingMs int64
	DurationMs  int64 // Δ
}

// SealStatus is the node's seal.
type SealStatus struct {
	Sealed      bool
	Initialized bool
	Provider    string `json:",omitempty"`
	KeyringTerm uint32
}

func (n *Node) status(ctx context.Context) *Status {
	rs := n.cluster.RaftStatus()
	st := &Status{
		Region: n.cfg.Region, AccountId: n.cfg.AccountID, NodeId: n.cfg.NodeID,
		Version: version(), GoVersion: runtime.Version(), Time: time.Now().UTC(), State: rs.State,
		Raft: RaftStatus{
			Term: rs.Term, LastLogIndex: rs.LastLogIndex, CommitIndex: rs.CommitIndex, AppliedIndex: rs.AppliedIndex,
			LastSnapshotIndex: rs.LastSnapshotIndex, FSMAppliedIndex: n.fsm.AppliedIndex(), LastContactMs: rs.LastContact.Milliseconds(),
		},
		Keys: n.fsm.KeyCount(), Identities: n.fsm.IdentityCount(),
	}
	if rs.LastContact < 0 {
		st.Raft.LastContactMs = -1
	}
	st.LeaderId, st.LeaderAddress = n.cluster.Leader()
	if ms, err := n.cluster.Members(); err == nil {
		st.Members = ms
	} else {
		n.log.Warn("status: cannot list the members", "err", err)
	}
	d, left := n.cluster.LeaseDuration(), n.cluster.LeaseRemaining()
	st.Lease = LeaseStatus{Held: n.cluster.ReadReady() == nil, RemainingMs: left.Milliseconds(), DurationMs: d.Milliseconds()}
	if st.Lease.Held {
		st.Lease.AgeMs = (d - left).Milliseconds()
	}
	ss := n.kms.SealStatus(ctx)
	st.Seal = SealStatus{Sealed: ss.Sealed, Initialized: ss.Initialized, Provider: ss.Provider, KeyringTerm: ss.Term}
	return st
}
