package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/audit"
)

const (
	auditUsage = "kmsctl audit verify [--public-key KEY|FILE]... [--require-signed-tail] [--json] FILE... |\n" +
		"       kmsctl audit public-key [--endpoint URL] [--region R] [--ca-file FILE] [--json]"
	auditVerifyUsage    = "kmsctl audit verify [--public-key KEY|FILE]... [--require-signed-tail] [--json] FILE..."
	auditPublicKeyUsage = "kmsctl audit public-key [--endpoint URL] [--region R] [--ca-file FILE] [--json]"
)

// errNotVerified: the log failed verification (the report says where).
var errNotVerified = errors.New("the audit log does not verify")

// auditCmd runs `kmsctl audit verify|public-key`.
func auditCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage:", auditUsage)
		return errUsage
	}
	switch args[0] {
	case "verify":
		return auditVerify(args[1:], stdout, stderr)
	case "public-key":
		return auditPublicKey(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "kmsctl: unknown audit command %q\n", args[0])
	fmt.Fprintln(stderr, "usage:", auditUsage)
	return errUsage
}

// auditVerify checks a node's audit log, given as its files in order
// (oldest first): header, seq continuity, hash chain and checkpoint
// signatures. It exits 1 naming the file, line and seq of the first bad
// line.
func auditVerify(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl audit verify", pflag.ContinueOnError)
	keys := fs.StringArray("public-key", nil, "the node's audit public key (base64, as kmsnode prints it at start, or a file holding it); repeat for several")
	requireSigned := fs.Bool("require-signed-tail", false, "fail, not warn, when lines after the last checkpoint are not signed")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: %s\n%s", auditVerifyUsage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		fmt.Fprintln(stderr, "kmsctl:", err)
		fmt.Fprintln(stderr, "usage:", auditVerifyUsage)
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "kmsctl: no audit file given")
		fmt.Fprintln(stderr, "usage:", auditVerifyUsage)
		return errUsage
	}
	opts := audit.VerifyOptions{RequireSignedTail: *requireSigned}
	for _, k := range *keys {
		pub, err := readPublicKey(k)
		if err != nil {
			return err
		}
		opts.PublicKeys = append(opts.PublicKeys, pub)
	}
	var inputs []audit.Input
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		inputs = append(inputs, audit.Input{Name: name, R: f})
	}
	r := audit.Verify(inputs, opts)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printReport(stdout, r)
	}
	if !r.OK() {
		return errNotVerified
	}
	return nil
}

// readPublicKey takes a base64 key, or the name of a file holding one.
func readPublicKey(s string) (ed25519.PublicKey, error) {
	if pub, err := audit.ParsePublicKey(s); err == nil {
		return pub, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--public-key %q is neither a base64 Ed25519 public key nor a file", s)
		}
		return nil, err
	}
	pub, err := audit.ParsePublicKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("--public-key file %s: %w", s, err)
	}
	return pub, nil
}

func printReport(w io.Writer, r *audit.Report) {
	if r.Failure != nil {
		fmt.Fprintf(w, "FAIL %s\n", r.Failure)
	} else {
		fmt.Fprintf(w, "OK   %d file(s), %d lines: %d records, %d headers, %d checkpoints (seq %d–%d)\n",
			r.Files, r.Lines, r.Records, r.Headers, r.Checkpoints, r.FirstSeq, r.LastSeq)
	}
	if r.Checkpoints > 0 {
		fmt.Fprintf(w, "     signed through seq %d", r.SignedThrough)
		if r.Unsigned > 0 {
			fmt.Fprintf(w, "; %d line(s) after it are not signed", r.Unsigned)
		}
		fmt.Fprintln(w)
	}
	switch {
	case r.PublicKey != "" && r.KeyPinned:
		fmt.Fprintf(w, "     key %s (pinned)\n", r.PublicKey)
	case r.PublicKey != "":
		fmt.Fprintf(w, "     key %s (from the log: not pinned)\n", r.PublicKey)
	}
	for _, p := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
}

// auditPublicKey asks a node for its audit public key (signed operator call
// KmsNodeOperator.GetAuditPublicKey) and prints it, for --public-key.
func auditPublicKey(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl audit public-key", pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the node's whole answer (node, region, key, chain head) as JSON")
	if ok, err := parseFlags(fs, args, 0, auditPublicKeyUsage, stderr); !ok {
		return err
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var out struct {
		NodeId    string
		Region    string
		PublicKey string
		ChainSeq  uint64
		ChainHead string
	}
	if err := c.call(ctx, "GetAuditPublicKey", struct{}{}, &out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	if out.PublicKey == "" {
		return fmt.Errorf("node %s has no audit key yet (it has not been unsealed since it started)", out.NodeId)
	}
	fmt.Fprintln(stdout, out.PublicKey)
	return nil
}
