package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"time"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/kms"
)

// Development identity printed by `kmsnode dev`. It is fixed so scripts and
// the README can rely on it; `dev` only listens on loopback.
const (
	DevAccessKeyID     = "AKIAKMSNODEDEVELOPER"
	DevSecretAccessKey = "kmsnode/dev/secret/access/key/not+for+production"
	DevAccountID       = "111122223333"
)

// Config describes one node.
type Config struct {
	Region    string
	AccountID string
	Partition string
	NodeID    string // default: a UUID persisted in DataDir/node-id
	DataDir   string
	APIAddr   string // host:port; port 0 picks a free one

	// TLSCertFile and TLSKeyFile, when both set, serve the API over HTTPS.
	TLSCertFile string
	TLSKeyFile  string

	// Credentials are the identities whose SigV4 signatures are accepted.
	Credentials []sigv4.Credential

	Seal SealConfig

	Lease             time.Duration // read lease Δ (default 2s)
	SchedulerInterval time.Duration // how often the leader looks for due work (default 1s)
	Clock             kms.Clock     // source of key dates (default system clock)
	Logger            *slog.Logger
	AuditFile         string // default DataDir/audit.log; "off" disables

	// Raft tuning, mostly for tests.
	RaftHeartbeatTimeout time.Duration
	RaftElectionTimeout  time.Duration
	SnapshotThreshold    uint64
	TrailingLogs         uint64

	// StartTimeout bounds how long Start waits to be unsealed and ready.
	StartTimeout time.Duration

	// Cluster, when its Addr is set, makes the node a member of a
	// multi-node region; otherwise the node is a standalone region of one.
	Cluster ClusterConfig
}

// ClusterConfig places the node in a region of several nodes.
type ClusterConfig struct {
	Addr      string // cluster port (TLS, Raft + internal RPC), e.g. 0.0.0.0:8300
	Advertise string // address the other nodes dial (default: Addr)
	// TLS: the region CA and this node's certificate, whose URI SAN
	// carries the node ID and region.
	CAFile, CertFile, KeyFile string

	GossipAddr      string   // memberlist LAN pool, e.g. 0.0.0.0:7946
	GossipAdvertise string   // default: GossipAddr
	GossipKey       []byte   // 32-byte key shared by the region (secret)
	Join            []string // gossip addresses of other nodes of the region

	// BootstrapExpect forms a new region from this many nodes (0: join).
	BootstrapExpect int
	// StabilizeTime: how long a new node must keep up before it votes.
	StabilizeTime time.Duration
}

// SealConfig selects the unseal provider that opens the region root key.
type SealConfig struct {
	Provider string // "file" or "env"
	// KeyFile holds the 32-byte unseal key (raw or base64) for "file".
	KeyFile string
	// CreateKeyFile creates KeyFile when missing (development only).
	CreateKeyFile bool
	// EnvVar names the variable holding the base64 key for "env"
	// (default KMSNODE_SEAL_KEY); it is cleared after reading.
	EnvVar string
}

// DefaultConfig returns a development configuration for dataDir.
func DefaultConfig(dataDir string) Config {
	return Config{
		Region: "us-east-1", AccountID: DevAccountID, Partition: "aws",
		DataDir: dataDir, APIAddr: "127.0.0.1:8080",
		Credentials: []sigv4.Credential{{
			AccessKeyID: DevAccessKeyID, Secret: DevSecretAccessKey,
			Principal: "arn:aws:iam::" + DevAccountID + ":user/kmsnode-dev",
		}},
		Seal: SealConfig{Provider: "file", CreateKeyFile: true},
	}
}

var (
	regionRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,31}$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// Validate reports the first problem in c.
func (c *Config) Validate() error {
	switch {
	case !regionRE.MatchString(c.Region):
		return fmt.Errorf("node: region %q is not a valid region name (e.g. us-east-1)", c.Region)
	case !accountRE.MatchString(c.AccountID):
		return fmt.Errorf("node: account ID %q must be 12 digits", c.AccountID)
	case c.Partition == "":
		return errors.New("node: partition is required")
	case c.DataDir == "":
		return errors.New("node: data directory is required")
	case len(c.Credentials) == 0:
		return errors.New("node: at least one credential is required")
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("node: TLS needs both a certificate and a key file")
	case unsealProviders[c.Seal.Provider] == nil:
		return fmt.Errorf("node: unknown seal provider %q (%s)", c.Seal.Provider, providerNames())
	}
	if c.Cluster.Addr != "" {
		switch {
		case c.Cluster.CAFile == "" || c.Cluster.CertFile == "" || c.Cluster.KeyFile == "":
			return errors.New("node: the cluster port needs --cluster-ca-file, --cluster-cert-file and --cluster-key-file")
		case c.Cluster.GossipAddr == "":
			return errors.New("node: a cluster node needs a gossip address")
		case len(c.Cluster.GossipKey) != 32:
			return errors.New("node: the gossip key must be 32 bytes (base64 in the key file or KMSNODE_GOSSIP_KEY)")
		}
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		return fmt.Errorf("node: API address %q: %w", c.APIAddr, err)
	}
	for _, cr := range c.Credentials {
		if cr.AccessKeyID == "" || cr.Secret == "" {
			return errors.New("node: a credential needs an access key ID and a secret")
		}
	}
	return nil
}
