package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/node"
)

func runDev(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsnode dev", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := node.DefaultConfig("")
	fs.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:8080", "address of the plain-HTTP API (loopback only)")
	fs.StringVar(&cfg.DataDir, "data-dir", "kmsnode-dev-data", "directory for the node's state; kept across restarts")
	fs.StringVar(&cfg.Region, "region", "us-east-1", "region name used in ARNs and SigV4 scopes")
	fs.StringVar(&cfg.AccountID, "account-id", node.DevAccountID, "12-digit account ID used in ARNs")
	fs.StringVar(&cfg.Partition, "partition", "aws", "ARN partition")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "loopback address for Prometheus metrics (GET /metrics), e.g. 127.0.0.1:9464; empty: off")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	debugAddr := debugFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	if !node.IsLoopback(cfg.APIAddr) {
		return fmt.Errorf("dev mode serves plain HTTP on loopback only; %s is not a loopback address (use 'kmsnode serve' with TLS)", cfg.APIAddr)
	}
	if cfg.MetricsAddr != "" && !node.IsLoopback(cfg.MetricsAddr) {
		return fmt.Errorf("dev mode serves metrics on loopback only; %s is not a loopback address", cfg.MetricsAddr)
	}
	cfg.Credentials[0].Principal = "arn:" + cfg.Partition + ":iam::" + cfg.AccountID + ":user/kmsnode-dev"
	cfg.Logger = newLogger(stderr, *logLevel)
	return runNode(cfg, *debugAddr, stdout, stderr, func(n *node.Node) { printDev(stdout, n) })
}

func printDev(w io.Writer, n *node.Node) {
	c := n.Config()
	dir, _ := filepath.Abs(c.DataDir)
	if n.CreatedUnsealKey {
		fmt.Fprintf(w, "WARNING: development mode. A new unseal key was written to %s.\n", filepath.Join(dir, "unseal.key"))
		fmt.Fprintf(w, "         It protects every key of this region and sits next to the data: never do this in production.\n\n")
	} else {
		fmt.Fprintf(w, "WARNING: development mode: the unseal key is in %s, next to the data.\n\n", filepath.Join(dir, "unseal.key"))
	}
	fmt.Fprintf(w, "kmsnode is running.\n\n")
	fmt.Fprintf(w, "  endpoint:  %s\n  region:    %s\n  account:   %s\n  data:      %s\n\n", n.URL(), c.Region, c.AccountID, dir)
	if u := n.MetricsURL(); u != "" {
		fmt.Fprintf(w, "  metrics:   %s\n\n", u)
	}
	fmt.Fprintf(w, "audit public key: %s (pin it with kmsctl audit verify --public-key)\n\n", n.AuditPublicKey())
	fmt.Fprintf(w, "Use it with the development identity:\n\n")
	fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s\n", node.DevAccessKeyID)
	fmt.Fprintf(w, "  export AWS_SECRET_ACCESS_KEY=%s\n", node.DevSecretAccessKey)
	fmt.Fprintf(w, "  export AWS_DEFAULT_REGION=%s\n\n", c.Region)
	fmt.Fprintf(w, "  aws --endpoint-url %s kms create-key --description demo\n\n", n.URL())
	fmt.Fprintf(w, "Stop with Ctrl-C; the keys stay in the data directory.\n")
}
