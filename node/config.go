package node

import (
	"errors"
	"fmt"
	"io"
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
	// APIAdvertise is the API address the node advertises to the region
	// (kmsctl members and status, restore's search for the leader), when
	// APIAddr is not reachable as written (0.0.0.0, a container's port
	// published elsewhere). Default: APIAddr.
	APIAdvertise string

	// TLSCertFile and TLSKeyFile, when both set, serve the API over HTTPS.
	TLSCertFile string
	TLSKeyFile  string
	// TLSClientCAFile, when set, makes the API require a client
	// certificate issued by one of its CAs. Reloaded with the pair.
	TLSClientCAFile string

	// RateLimit is the requests per second each access key ID may make
	// (and each source address, for requests that fail authentication);
	// 0 turns rate limiting off. RateBurst is the bucket size (default:
	// RateLimit rounded up, at least 1).
	RateLimit float64
	RateBurst int

	// Credentials are operator credentials whose SigV4 signatures are
	// accepted besides the region's identities; they may do anything the
	// key policies allow (kms/authz.go).
	Credentials []sigv4.Credential
	// CreateRootIdentity creates the account root identity with an access
	// key when the region has no identity yet (kmsnode serve); the node that
	// creates it reports it through Node.TakeRootCredentials.
	CreateRootIdentity bool

	Seal SealConfig

	Lease             time.Duration // read lease Δ (default 2s)
	SchedulerInterval time.Duration // how often the leader looks for due work (default 1s)
	Clock             kms.Clock     // source of key dates (default system clock)
	Logger            *slog.Logger
	AuditFile         string // default DataDir/audit.log; "off" disables
	// AuditFailOpen keeps the node serving when its audit log cannot be
	// written (default: it refuses every call until the log recovers).
	AuditFailOpen bool

	// MetricsAddr, when set, serves Prometheus metrics at /metrics on a
	// listener of its own (metrics.go); a non-loopback address needs
	// MetricsAllowRemote.
	MetricsAddr        string
	MetricsAllowRemote bool

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
	Provider string // "file", "env", "pkcs11" or "kmsapi"
	// KeyFile holds the 32-byte unseal key (raw or base64) for "file".
	KeyFile string
	// CreateKeyFile creates KeyFile when missing (development only).
	CreateKeyFile bool
	// EnvVar names the variable holding the base64 key for "env"
	// (default KMSNODE_SEAL_KEY); it is cleared after reading.
	EnvVar string
	// PKCS11 configures seal=pkcs11 (a build with -tags pkcs11).
	PKCS11 PKCS11SealConfig
	// KMSAPI configures seal=kmsapi.
	KMSAPI KMSAPISealConfig
	// Shares and Threshold are the Shamir share set a new region gets
	// with seal=shamir (default 5 and 3; seal_shamir.go).
	Shares, Threshold int
	// Output receives the unseal shares of a new shamir region, once
	// (kmsnode serve: standard output; never the log). Required for shamir.
	Output io.Writer
	// Initialised, when set, is called after a node that started sealed
	// initialised a new region (it is then unsealed; TakeRootCredentials may
	// be set).
	Initialised func(*Node)
}

// PKCS11SealConfig places the unseal key in an HSM: a non-extractable
// AES-256 secret key object that wraps the root key with CKM_AES_GCM inside
// the token (node/seal_pkcs11.go).
type PKCS11SealConfig struct {
	Lib        string // path of the PKCS#11 module (.so)
	TokenLabel string // label of the token holding the key; or Slot
	Slot       *uint  // slot ID of the token, when TokenLabel is empty
	KeyLabel   string // CKA_LABEL of the AES-256 key
	// PINFile holds the user PIN; without it the PIN comes from
	// KMSNODE_PKCS11_PIN, cleared after reading. Never a flag value.
	PINFile string
	// CreateKey generates the key in the token when a new region starts
	// and the token has none with KeyLabel.
	CreateKey bool
}

// KMSAPISealConfig unseals from another AWS-KMS-compatible endpoint: the
// root key is an Encrypt CiphertextBlob of KeyID there
// (node/seal_kmsapi.go).
type KMSAPISealConfig struct {
	Endpoint string // e.g. https://kms.example:8443 (default: AWS KMS in Region)
	Region   string // the endpoint's region (SigV4 scope)
	KeyID    string // key ID, key ARN, alias name or alias ARN
	CAFile   string // PEM CA bundle for the endpoint (default: system roots)
	// Credentials: AccessKeyID/SecretAccessKey when set (programs that
	// embed a node), else CredentialsFile (AWS shared-credentials format,
	// [default] profile), else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
	// AWS_SESSION_TOKEN, the secret ones cleared after reading.
	CredentialsFile string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// validate checks the settings of the selected provider only.
func (s *SealConfig) validate() error {
	switch s.Provider {
	case "pkcs11":
		p := &s.PKCS11
		switch {
		case p.Lib == "":
			return errors.New("node: seal pkcs11 needs the PKCS#11 module path (--seal-pkcs11-lib)")
		case p.KeyLabel == "":
			return errors.New("node: seal pkcs11 needs the label of the AES key (--seal-pkcs11-key-label)")
		case (p.TokenLabel == "") == (p.Slot == nil):
			return errors.New("node: seal pkcs11 needs exactly one of --seal-pkcs11-token-label and --seal-pkcs11-slot")
		}
	case "kmsapi":
		k := &s.KMSAPI
		switch {
		case k.Region == "":
			return errors.New("node: seal kmsapi needs the endpoint's region (--seal-kmsapi-region)")
		case k.KeyID == "":
			return errors.New("node: seal kmsapi needs the key ID (--seal-kmsapi-key-id)")
		case (k.AccessKeyID == "") != (k.SecretAccessKey == ""):
			return errors.New("node: seal kmsapi credentials need both an access key ID and a secret access key")
		}
	}
	return nil
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
	case len(c.Credentials) == 0 && !c.CreateRootIdentity:
		return errors.New("node: at least one credential is required (or CreateRootIdentity)")
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("node: TLS needs both a certificate and a key file")
	case c.TLSClientCAFile != "" && c.TLSCertFile == "":
		return errors.New("node: a client CA file needs the API served over TLS (a certificate and a key file)")
	case !(c.RateLimit >= 0 && c.RateLimit <= 1e9) || c.RateBurst < 0 || c.RateBurst > 1e9:
		return fmt.Errorf("node: rate limit %v/s with burst %d: both must be between 0 and 1e9", c.RateLimit, c.RateBurst)
	case unsealProviders[c.Seal.Provider] == nil:
		return fmt.Errorf("node: unknown seal provider %q (%s)", c.Seal.Provider, providerNames())
	}
	if err := c.Seal.validate(); err != nil {
		return err
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
	if c.APIAdvertise != "" {
		if _, _, err := net.SplitHostPort(c.APIAdvertise); err != nil {
			return fmt.Errorf("node: advertised API address %q: %w", c.APIAdvertise, err)
		}
	}
	for _, cr := range c.Credentials {
		if cr.AccessKeyID == "" || cr.Secret == "" {
			return errors.New("node: a credential needs an access key ID and a secret")
		}
	}
	return nil
}
