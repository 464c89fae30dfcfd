package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

var version = "dev"

var errUsage = errors.New("usage")

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = "usage: kmsctl status [--endpoint URL] [--health|--all] [--json] | kmsctl members [--json] | kmsctl remove-node NODE_ID | kmsctl identity SUBCOMMAND |\n" +
	"       kmsctl gossip-key list|install|use|remove|rotate | kmsctl unseal | kmsctl seal-status | kmsctl version\n" +
	"       kmsctl audit verify [--public-key KEY|FILE] [--require-signed-tail] [--json] FILE... | kmsctl audit public-key\n" +
	"       kmsctl snapshot save FILE | inspect FILE | restore FILE [--force]\n" +
	"       kmsctl health [--live] [ENDPOINT] | kmsctl lb --listen ADDR --backend HOST:PORT... (a TCP load balancer for a region)\n" +
	"  status, members, remove-node, gossip-key and snapshot also take [--endpoint URL] [--region R] [--ca-file FILE];\n" +
	"  they sign with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN"

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var cmd func([]string, io.Writer, io.Writer) error
	switch args[0] {
	case "version":
		fmt.Fprintln(stdout, "kmsctl", version)
		return 0
	case "status":
		cmd = status
	case "members":
		cmd = members
	case "remove-node":
		cmd = removeNode
	case "unseal": // unseal.go
		cmd = unseal
	case "seal-status":
		cmd = sealStatus
	case "identity":
		cmd = identity
	case "gossip-key":
		cmd = gossipKey
	case "audit": // audit.go
		cmd = auditCmd
	case "snapshot": // snapshot.go
		cmd = snapshotCmd
	case "health": // health.go
		cmd = health
	case "lb": // lb.go
		cmd = lbCmd
	default:
		fmt.Fprintf(stderr, "kmsctl: unknown command %q\n", args[0])
		fmt.Fprintln(stderr, usage)
		return 2
	}
	err := cmd(args[1:], stdout, stderr)
	switch {
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "kmsctl:", err)
		return 1
	}
	return 0
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
