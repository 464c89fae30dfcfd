package cluster

import (
	"errors"
	"io"
	"time"
)

// Config configures one node's Raft participation.
type Config struct {
	NodeID  string // stable Raft server ID
	DataDir string // holds raft.db and snapshots/

	// Lease is Δ, how long a read lease stays valid after its renewal was
	// sent (design-notes §2.2). Default 2s; range 250ms–10s.
	Lease time.Duration
	// ApplyTimeout bounds how long Apply waits for a leader and a commit.
	ApplyTimeout time.Duration
	// HeartbeatTimeout and ElectionTimeout tune Raft; defaults 1s each.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// SnapshotThreshold and TrailingLogs tune log compaction (Raft defaults
	// 8192 and 10240 when zero).
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// LogOutput receives Raft's own log lines (default: discarded).
	LogOutput io.Writer
}

func (c *Config) setDefaults() {
	if c.Lease == 0 {
		c.Lease = 2 * time.Second
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.LogOutput == nil {
		c.LogOutput = io.Discard
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("cluster: node ID is required")
	case c.DataDir == "":
		return errors.New("cluster: data directory is required")
	case c.Lease != 0 && (c.Lease < 250*time.Millisecond || c.Lease > 10*time.Second):
		return errors.New("cluster: lease must be between 250ms and 10s")
	}
	return nil
}
