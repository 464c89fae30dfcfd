package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

var version = "dev"

var errUsage = errors.New("usage")

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = "usage: kmsctl status [--endpoint URL] [--json] | kmsctl members [--json] | kmsctl remove-node NODE_ID | kmsctl identity SUBCOMMAND |\n" +
	"       kmsctl gossip-key list|install|use|remove|rotate | kmsctl unseal | kmsctl seal-status | kmsctl version\n" +
	"       kmsctl audit verify [--public-key KEY|FILE] [--require-signed-tail] [--json] FILE... | kmsctl audit public-key\n" +
	"  members, remove-node and gossip-key also take [--endpoint URL] [--region R] [--ca-file FILE];\n" +
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

// nodeStatus is what `status` reports about one node.
type nodeStatus struct {
	Endpoint string `json:"endpoint"`
	Alive    bool   `json:"alive"`
	Ready    bool   `json:"ready"`
	Detail   string `json:"detail,omitempty"`
}

func status(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl status", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", envOr("KMSNODE_ENDPOINT", "http://127.0.0.1:8080"), "node API endpoint")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, "kmsctl:", err)
		return errUsage
	}
	base := strings.TrimRight(*endpoint, "/")
	c := &http.Client{Timeout: 5 * time.Second}
	st := nodeStatus{Endpoint: base}
	if _, err := get(c, base+"/healthz"); err == nil {
		st.Alive = true
	} else {
		st.Detail = err.Error()
	}
	if st.Alive {
		body, err := get(c, base+"/readyz")
		st.Ready = err == nil
		if err != nil {
			st.Detail = strings.TrimSpace(body)
			if st.Detail == "" {
				st.Detail = err.Error()
			}
		}
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "endpoint  %s\nalive     %v\nready     %v\n", st.Endpoint, st.Alive, st.Ready)
		if st.Detail != "" {
			fmt.Fprintf(stdout, "detail    %s\n", st.Detail)
		}
	}
	if !st.Ready {
		return errors.New("node is not ready")
	}
	return nil
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
