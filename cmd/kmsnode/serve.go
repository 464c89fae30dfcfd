package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "PEM certificate for the API (HTTPS)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "PEM private key for the API")
	fs.StringVar(&cfg.Seal.Provider, "seal", "file", "unseal provider: file or env")
	fs.StringVar(&cfg.Seal.KeyFile, "seal-key-file", "", "file holding the 32-byte unseal key (seal=file)")
	fs.StringVar(&cfg.AuditFile, "audit-file", "", "audit log path (default <data-dir>/audit.log; 'off' disables)")
	accessKey := fs.String("access-key-id", "", "access key ID of the identity to accept; its secret comes from KMSNODE_SECRET_ACCESS_KEY or --secret-access-key-file")
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
	gossipKeyFile := fs.String("gossip-key-file", "", "file holding the region's base64 gossip key (or KMSNODE_GOSSIP_KEY)")
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
	if cfg.TLSCertFile == "" && !loopback(cfg.APIAddr) {
		return fmt.Errorf("refusing to serve plain HTTP on %s: give --tls-cert-file and --tls-key-file, or listen on loopback", cfg.APIAddr)
	}
	secret, err := readSecret(*secretFile, "KMSNODE_SECRET_ACCESS_KEY")
	if err != nil {
		return err
	}
	if *accessKey == "" || secret == "" {
		return errors.New("serve needs --access-key-id and its secret (KMSNODE_SECRET_ACCESS_KEY or --secret-access-key-file)")
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
	cfg.Credentials = []sigv4.Credential{{AccessKeyID: *accessKey, Secret: secret, Principal: *principal}}
	cfg.Logger = newLogger(stderr, *logLevel)
	return runNode(cfg, *debugAddr, stdout, stderr, func(n *node.Node) {
		fmt.Fprintf(stdout, "kmsnode serving %s (region %s, node %s)\n", n.URL(), cfg.Region, n.Config().NodeID)
		if t := n.Transport(); t != nil {
			fmt.Fprintf(stdout, "cluster port %s\n", t.Addr())
		}
	})
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
