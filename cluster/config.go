package cluster

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/kmsnode/kmsnode/transport"
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
	// LogOutput receives Raft's own log lines (hclog text). Default: Logger,
	// with component=raft and hclog's level mapped to slog's, so Raft's
	// elections, snapshots and errors reach the node's log.
	LogOutput io.Writer
	// Logger receives the cluster's own events (joins, promotions,
	// refusals). Default: discarded.
	Logger *slog.Logger

	// Transport is the cluster port. Nil runs a standalone region of one
	// node over an in-memory transport (kmsnode dev); it is bootstrapped
	// the first time.
	Transport *transport.Transport
	// Region is the region this node serves; gossip and certificates of
	// other regions are refused.
	Region string
	// BootstrapExpect: a node without Raft state waits until this many
	// nodes of the region (all started with the same value) see each other
	// in gossip, checks that none of them already belongs to a cluster, and
	// bootstraps them together. 0: never bootstrap; wait to be added.
	BootstrapExpect int
	// Gossip configures the region's memberlist pool (with a Transport).
	Gossip GossipConfig
	// APIAddr is advertised to the other nodes (status, kmsctl members).
	APIAddr string
	// StabilizeTime is how long a non-voter must renew its lease and keep
	// up with the log before it is promoted to voter (default 10s).
	StabilizeTime time.Duration
	// MaxVoters caps the voters of the region (default 5); more nodes stay
	// non-voters, serving crypto without slowing commits.
	MaxVoters int
}

// GossipConfig configures the region's memberlist pool.
type GossipConfig struct {
	BindAddr      string   // host:port to listen on (UDP and TCP)
	AdvertiseAddr string   // host:port others reach (default: the bound address)
	Key           []byte   // 32-byte AES-256-GCM key shared by the region
	Join          []string // gossip addresses of any nodes of the region
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LogOutput == nil {
		c.LogOutput = levelWriter{c.Logger.With("component", "raft")}
	}
	if c.StabilizeTime == 0 {
		c.StabilizeTime = 10 * time.Second
	}
	if c.MaxVoters == 0 {
		c.MaxVoters = 5
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
	case c.Transport != nil && len(c.Gossip.Key) != 32:
		return errors.New("cluster: the gossip key must be 32 bytes (AES-256)")
	case c.Transport != nil && c.Gossip.BindAddr == "":
		return errors.New("cluster: a gossip address is required")
	case c.Transport != nil && c.Transport.Self().NodeID != c.NodeID:
		return errors.New("cluster: the node ID differs from the one in the node certificate")
	case c.Transport != nil && c.Transport.Self().Region != c.Region:
		return errors.New("cluster: the region differs from the one in the node certificate")
	case c.BootstrapExpect < 0 || c.BootstrapExpect > 7:
		return errors.New("cluster: bootstrap-expect must be between 0 and 7")
	}
	return nil
}
