package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/node"
)

// runServe runs a node from flags. Every flag can also come from a KMSNODE_…
// variable (e.g. --api-addr ← KMSNODE_API_ADDR). Secrets come only from a
// file or the environment, never from a flag value that `ps` would show.
func runServe(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsnode serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := node.DefaultConfig("")
	cfg.Seal = node.SealConfig{}
	fs.StringVar(&cfg.Region, "region", "", "region name (required)")
	fs.StringVar(&cfg.AccountID, "account-id", "", "12-digit account ID used in ARNs (required)")
	fs.StringVar(&cfg.Partition, "partition", "aws", "ARN partition")
	fs.StringVar(&cfg.NodeID, "node-id", "", "Raft server ID (default: the one in the cluster certificate, else a UUID kept in the data directory)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the node's state (required)")
	fs.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:8443", "address of the API")
	fs.StringVar(&cfg.APIAdvertise, "api-advertise", "", "API address advertised to the region, host:port (default: --api-addr; set it when that is 0.0.0.0 or a container port published elsewhere)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "PEM certificate for the API (HTTPS)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "PEM private key for the API (certificate and key are read again on SIGHUP)")
	fs.StringVar(&cfg.TLSClientCAFile, "tls-client-ca-file", "", "PEM CA bundle: require API clients to present a certificate it issued (read again on SIGHUP)")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 0, "requests per second allowed to each access key ID (and to each source address for requests that fail authentication); 0 turns limiting off")
	fs.IntVar(&cfg.RateBurst, "rate-burst", 0, "requests a caller may make at once after being idle (default: --rate-limit rounded up)")
	fs.StringVar(&cfg.Seal.Provider, "seal", "file", "unseal provider: file, env, shamir, pkcs11 or kmsapi")
	fs.StringVar(&cfg.Seal.KeyFile, "seal-key-file", "", "file holding the 32-byte unseal key (seal=file)")
	fs.IntVar(&cfg.Seal.Shares, "seal-shares", node.DefaultSealShares, "seal=shamir: shares the unseal key of a new region is split into (printed once on standard output)")
	fs.IntVar(&cfg.Seal.Threshold, "seal-threshold", node.DefaultSealThreshold, "seal=shamir: shares needed to unseal a node (kmsctl unseal)")
	p11 := &cfg.Seal.PKCS11
	fs.StringVar(&p11.Lib, "seal-pkcs11-lib", "", "PKCS#11 module of the HSM, e.g. /usr/lib/softhsm/libsofthsm2.so (seal=pkcs11; a build with -tags pkcs11)")
	fs.StringVar(&p11.TokenLabel, "seal-pkcs11-token-label", "", "label of the HSM token holding the unseal key (or --seal-pkcs11-slot)")
	p11Slot := fs.Int("seal-pkcs11-slot", -1, "slot ID of the HSM token, instead of --seal-pkcs11-token-label")
	fs.StringVar(&p11.KeyLabel, "seal-pkcs11-key-label", "", "CKA_LABEL of the AES-256 unseal key in the token")
	fs.StringVar(&p11.PINFile, "seal-pkcs11-pin-file", "", "file holding the token's user PIN (default: KMSNODE_PKCS11_PIN, cleared after reading)")
	fs.BoolVar(&p11.CreateKey, "seal-pkcs11-create-key", false, "generate the unseal key (non-extractable AES-256) in the token when a new region starts and the token has none")
	ka := &cfg.Seal.KMSAPI
	fs.StringVar(&ka.Endpoint, "seal-kmsapi-endpoint", "", "AWS-KMS-compatible endpoint holding the key that wraps the root key, e.g. https://kms.other-region.example:8443 (seal=kmsapi; default: AWS KMS in --seal-kmsapi-region)")
	fs.StringVar(&ka.Region, "seal-kmsapi-region", "", "region of that endpoint")
	fs.StringVar(&ka.KeyID, "seal-kmsapi-key-id", "", "key ID, ARN or alias of the wrapping key at that endpoint")
	fs.StringVar(&ka.CAFile, "seal-kmsapi-ca-file", "", "PEM CA bundle to trust for that endpoint (default: the system roots)")
	fs.StringVar(&ka.CredentialsFile, "seal-kmsapi-credentials-file", "", "AWS shared-credentials file ([default] profile) for that endpoint (default: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)")
	fs.StringVar(&cfg.AuditFile, "audit-file", "", "audit log path (default <data-dir>/audit.log; 'off' disables)")
	fs.BoolVar(&cfg.AuditFailOpen, "audit-fail-open", false, "keep serving when the audit log cannot be written (default: refuse every call until it can be)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address of a separate listener for Prometheus metrics (GET /metrics, unsigned; HTTPS with the API's certificate when the API has one), e.g. 127.0.0.1:9464; empty: off")
	fs.BoolVar(&cfg.MetricsAllowRemote, "metrics-allow-remote", false, "allow --metrics-addr off loopback (request rates and error counts are then visible to whoever reaches that port)")
	accessKey := fs.String("access-key-id", "", "optional operator credential: an access key ID accepted besides the region's identities (allowed whatever key policies allow); its secret comes from KMSNODE_SECRET_ACCESS_KEY or --secret-access-key-file")
	secretFile := fs.String("secret-access-key-file", "", "file holding the secret access key")
	principal := fs.String("principal", "", "ARN of that identity (default arn:<partition>:iam::<account>:user/admin)")
	fs.DurationVar(&cfg.Lease, "read-lease", 2*time.Second, "read lease Δ: how stale a node's key state may be")
	cl := &cfg.Cluster
	fs.StringVar(&cl.Addr, "cluster-addr", "", "cluster port (TLS: Raft and internal RPC), e.g. 0.0.0.0:8300; empty runs a standalone node")
	fs.StringVar(&cl.Advertise, "cluster-advertise", "", "cluster address the other nodes dial (default: --cluster-addr)")
	fs.StringVar(&cl.CAFile, "cluster-ca-file", "", "PEM file of the region CA")
	fs.StringVar(&cl.CertFile, "cluster-cert-file", "", "PEM node certificate (its URI SAN names the node ID and region)")
	fs.StringVar(&cl.KeyFile, "cluster-key-file", "", "PEM private key of the node certificate")
	fs.StringVar(&cl.GossipAddr, "gossip-addr", "", "gossip (memberlist LAN) address, e.g. 0.0.0.0:7946")
	fs.StringVar(&cl.GossipAdvertise, "gossip-advertise", "", "gossip address the other nodes reach (default: --gossip-addr)")
	gossipKeyFile := fs.String("gossip-key-file", "", "file holding the region's base64 gossip key (or KMSNODE_GOSSIP_KEY); the key the node starts with: after 'kmsctl gossip-key' rotates the keyring, write the new key here")
	fs.StringSliceVar(&cl.Join, "join", nil, "gossip addresses of any nodes of the region (comma-separated or repeated)")
	fs.IntVar(&cl.BootstrapExpect, "bootstrap-expect", 0, "form a new region once this many nodes (3 or 5) see each other; 0 joins an existing one")
	fs.DurationVar(&cl.StabilizeTime, "stabilize-time", 10*time.Second, "how long a new node must keep up before it becomes a voter")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	debugAddr := debugFlag(fs)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if *p11Slot >= 0 {
		slot := uint(*p11Slot)
		p11.Slot = &slot
	}
	if cfg.TLSCertFile == "" && !node.IsLoopback(cfg.APIAddr) {
		return fmt.Errorf("refusing to serve plain HTTP on %s: give --tls-cert-file and --tls-key-file, or listen on loopback", cfg.APIAddr)
	}
	secret, err := readSecret(*secretFile, "KMSNODE_SECRET_ACCESS_KEY")
	if err != nil {
		return err
	}
	if (*accessKey == "") != (secret == "") {
		return errors.New("--access-key-id needs its secret (KMSNODE_SECRET_ACCESS_KEY or --secret-access-key-file), and a secret needs --access-key-id")
	}
	if cfg.Cluster.Addr != "" {
		key, err := readSecret(*gossipKeyFile, "KMSNODE_GOSSIP_KEY")
		if err != nil {
			return err
		}
		if cfg.Cluster.GossipKey, err = base64.StdEncoding.DecodeString(key); err != nil || len(cfg.Cluster.GossipKey) != 32 {
			return errors.New("the gossip key must be 32 bytes in base64 (kmsnode operator tls ca writes one)")
		}
	}
	if *principal == "" {
		*principal = "arn:" + cfg.Partition + ":iam::" + cfg.AccountID + ":user/admin"
	}
	cfg.Credentials = nil
	if *accessKey != "" {
		cfg.Credentials = []sigv4.Credential{{AccessKeyID: *accessKey, Secret: secret, Principal: *principal}}
	}
	cfg.CreateRootIdentity = true
	cfg.Logger = newLogger(stderr, *logLevel)
	hup := catchSIGHUP()
	defer hup.close()
	// seal=shamir: the node that creates the region prints the unseal
	// shares from its own goroutine, so standard output is shared.
	stdout = &lockedWriter{w: stdout}
	cfg.Seal.Output = stdout
	cfg.Seal.Initialised = func(n *node.Node) { printRootCredentials(stdout, n.TakeRootCredentials()) }
	return runNode(cfg, *debugAddr, stdout, stderr, func(n *node.Node) {
		hup.run(n, cfg.Logger)
		fmt.Fprintf(stdout, "kmsnode serving %s (region %s, node %s)\n", n.URL(), cfg.Region, n.Config().NodeID)
		if t := n.Transport(); t != nil {
			fmt.Fprintf(stdout, "cluster port %s\n", t.Addr())
		}
		if k := n.AuditPublicKey(); k != "" {
			fmt.Fprintf(stdout, "audit public key %s (pin it with kmsctl audit verify --public-key)\n", k)
		}
		if u := n.MetricsURL(); u != "" {
			fmt.Fprintf(stdout, "metrics %s\n", u)
		}
		printRootCredentials(stdout, n.TakeRootCredentials())
		if n.Sealed() {
			fmt.Fprintf(stdout, "node is sealed: it serves nothing until unsealed with 'kmsctl unseal --endpoint %s' (a threshold of the region's shares)\n", n.URL())
		}
	})
}

// lockedWriter serialises writes from the node's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// parseWithEnv fills unset flags from KMSNODE_<FLAG_NAME> variables, then
// parses the command line, which wins.
func parseWithEnv(fs *pflag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		name := "KMSNODE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

func readSecret(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	v := os.Getenv(env)
	os.Unsetenv(env)
	return v, nil
}

// printRootCredentials shows the account root's access key, created with
// the region: this is the only time the secret is shown.
func printRootCredentials(w io.Writer, rc *node.RootCredentials) {
	if rc == nil {
		return
	}
	fmt.Fprintf(w, `
The region is new. Its account root credentials are shown ONCE (kmsnode keeps them
nowhere else; if this output is captured, by docker logs or journald, remove them
from there, or replace the key with 'kmsctl identity add-key root' and 'remove-key'):
  AWS_ACCESS_KEY_ID=%s
  AWS_SECRET_ACCESS_KEY=%s
  principal %s
Create identities with least privilege (kmsctl identity create) and keep these for recovery.

`, rc.AccessKeyID, rc.SecretAccessKey, rc.Principal)
}
