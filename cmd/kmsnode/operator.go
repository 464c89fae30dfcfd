package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/transport"
)

const operatorUsage = `Usage:
  kmsnode operator tls ca --out DIR [--name NAME] [--days N]
      create a region CA: DIR/ca.pem, DIR/ca-key.pem and DIR/gossip.key
  kmsnode operator tls node --ca-dir DIR --out DIR --region R --node-id ID [--host H ...] [--days N]
      issue a node certificate: DIR/<ID>.pem and DIR/<ID>-key.pem
  kmsnode operator rotate [--endpoint URL] [--region R] [--ca-file FILE]
      add a keyring term: new key material is sealed under it (online)
  kmsnode operator rekey --new-key-file FILE | --shares N --threshold T [--share-file FILE ...]
      replace the unseal key (file/env: the new key; shamir: current shares in, new shares out)

Existing files are never overwritten. Run a subcommand with --help for its flags.
`

// runOperator runs the operator's offline tools.
func runOperator(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, operatorUsage)
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, operatorUsage)
		return nil
	case "rotate": // operator_rotate.go
		return runOperatorRotate(args[1:], stdout, stderr)
	case "rekey":
		return runOperatorRekey(args[1:], stdout, stderr)
	case "tls":
	default:
		fmt.Fprintf(stderr, "kmsnode operator: unknown command %q\n", args[0])
		fmt.Fprint(stderr, operatorUsage)
		return errUsage
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, operatorUsage)
		return errUsage
	}
	switch args[1] {
	case "ca":
		return runOperatorTLSCA(args[2:], stdout, stderr)
	case "node":
		return runOperatorTLSNode(args[2:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, operatorUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "kmsnode operator tls: unknown command %q\n", args[1])
		fmt.Fprint(stderr, operatorUsage)
		return errUsage
	}
}

func runOperatorTLSCA(args []string, stdout, stderr io.Writer) error {
	fl := pflag.NewFlagSet("kmsnode operator tls ca", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("out", "", "directory to write ca.pem, ca-key.pem and gossip.key into (required; created 0700 if missing)")
	name := fl.String("name", "kmsnode region CA", "common name of the CA certificate")
	days := fl.Int("days", 3650, "validity of the CA certificate in days")
	if ok, err := parseOperatorFlags(fl, args, stderr); !ok {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "kmsnode operator tls ca: --out is required")
		return errUsage
	}
	if *days <= 0 {
		fmt.Fprintln(stderr, "kmsnode operator tls ca: --days must be positive")
		return errUsage
	}
	files := []outFile{
		{name: "ca.pem", perm: 0o644, what: "CA certificate"},
		{name: "ca-key.pem", perm: 0o600, what: "CA private key: keep it offline, it can admit any node"},
		{name: "gossip.key", perm: 0o600, what: "gossip encryption key: give it to every node of the region"},
	}
	if err := checkAbsent(*out, files); err != nil {
		return err
	}
	cert, key, err := transport.GenerateCA(*name, days2duration(*days))
	if err != nil {
		return err
	}
	defer clear(key)
	gossip, err := transport.GenerateGossipKey()
	if err != nil {
		return err
	}
	gossipText := []byte(gossip + "\n")
	defer clear(gossipText)
	files[0].data, files[1].data, files[2].data = cert, key, gossipText
	if err := writeFiles(*out, files, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "CA %q valid for %d days\n", *name, *days)
	return nil
}

func runOperatorTLSNode(args []string, stdout, stderr io.Writer) error {
	fl := pflag.NewFlagSet("kmsnode operator tls node", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	caDir := fl.String("ca-dir", "", "directory holding ca.pem and ca-key.pem (required)")
	out := fl.String("out", "", "directory to write <node-id>.pem and <node-id>-key.pem into (required; created 0700 if missing)")
	var id transport.Identity
	fl.StringVar(&id.Region, "region", "", "region of the node (required)")
	fl.StringVar(&id.NodeID, "node-id", "", "node ID, as the node's --node-id (required)")
	hosts := fl.StringSlice("host", []string{"127.0.0.1", "localhost"}, "IP address or DNS name of the node (repeatable)")
	days := fl.Int("days", 365, "validity of the node certificate in days")
	if ok, err := parseOperatorFlags(fl, args, stderr); !ok {
		return err
	}
	for _, req := range []struct{ flag, val string }{{"ca-dir", *caDir}, {"out", *out}, {"region", id.Region}, {"node-id", id.NodeID}} {
		if req.val == "" {
			fmt.Fprintf(stderr, "kmsnode operator tls node: --%s is required\n", req.flag)
			return errUsage
		}
	}
	if *days <= 0 {
		fmt.Fprintln(stderr, "kmsnode operator tls node: --days must be positive")
		return errUsage
	}
	// The node ID names the files: validate it before building paths.
	if err := id.Validate(); err != nil {
		return err
	}
	caCert, err := os.ReadFile(filepath.Join(*caDir, "ca.pem"))
	if err != nil {
		return fmt.Errorf("read CA certificate: %w", err)
	}
	caKey, err := os.ReadFile(filepath.Join(*caDir, "ca-key.pem"))
	if err != nil {
		return fmt.Errorf("read CA key: %w", err)
	}
	defer clear(caKey)
	files := []outFile{
		{name: id.NodeID + ".pem", perm: 0o644, what: "certificate of " + id.String() + " for " + strings.Join(*hosts, ", ")},
		{name: id.NodeID + "-key.pem", perm: 0o600, what: "its private key"},
	}
	if err := checkAbsent(*out, files); err != nil {
		return err
	}
	cert, key, err := transport.IssueNodeCert(caCert, caKey, id, *hosts, days2duration(*days))
	if err != nil {
		return err
	}
	defer clear(key)
	files[0].data, files[1].data = cert, key
	if err := writeFiles(*out, files, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node certificate valid for %d days; the node also needs %s\n", *days, filepath.Join(*caDir, "ca.pem"))
	return nil
}

// parseOperatorFlags parses a subcommand's flags and refuses positional
// arguments. ok is false when the command must end with err: errUsage, or
// nil after --help printed the flags.
func parseOperatorFlags(fl *pflag.FlagSet, args []string, stderr io.Writer) (ok bool, err error) {
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return false, nil
		}
		// With ContinueOnError pflag prints only the --help text.
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", fl.Name(), err)
		return false, errUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fl.Name(), fl.Arg(0))
		return false, errUsage
	}
	return true, nil
}

func days2duration(days int) time.Duration { return time.Duration(days) * 24 * time.Hour }

// outFile is a file an operator command writes.
type outFile struct {
	name string
	perm fs.FileMode
	what string
	data []byte
}

// checkAbsent refuses to go on if any of the files exists, before anything
// is generated or written.
func checkAbsent(dir string, files []outFile) error {
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists: refusing to overwrite it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeFiles creates dir if needed and writes every file exclusively with
// its permissions (whatever the umask). On failure the files it created are
// removed, so a retry starts clean.
func writeFiles(dir string, files []outFile, stdout io.Writer) (err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var created []string
	defer func() {
		if err != nil {
			for _, p := range created {
				os.Remove(p)
			}
		}
	}()
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.perm)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists: refusing to overwrite it", p)
			}
			return err
		}
		created = append(created, p)
		_, err = fh.Write(f.data)
		if err == nil {
			err = fh.Chmod(f.perm)
		}
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s (%04o): %s\n", filepath.Join(dir, f.name), f.perm, f.what)
	}
	return nil
}
