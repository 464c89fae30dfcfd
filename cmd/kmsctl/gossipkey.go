package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

const gossipKeyUsage = `kmsctl gossip-key list|install|use|remove|rotate [flags]
  list                             each node's gossip keys (fingerprints) and which it seals with
  install --key-file NEW           add a key to every node's keyring
  use     --key-file NEW           make it the key every node seals with (install it everywhere first)
  remove  --key-file OLD           drop a key from every node (nodes knowing only it are then shut out)
  rotate  --key-file NEW --old-key-file OLD
                                   install NEW everywhere, use it everywhere, then remove OLD everywhere
  Every command reaches every node of the region: the API addresses the
  nodes advertise, or --endpoints. A key file holds 32 bytes in base64
  (e.g. head -c 32 /dev/urandom | base64 > new.key). The keyring lives in
  memory: after a rotation, put the new key in every node's --gossip-key-file
  (the key a node starts with), or a restarted node cannot rejoin.
  Also: [--endpoint URL] [--endpoints URL,...] [--region R] [--ca-file FILE] [--json]`

// nodeKeyring is one node's answer to KmsNodeOperator.GossipKeyring.
type nodeKeyring struct {
	NodeID string `json:"NodeId"`
	Keys   []struct {
		Fingerprint string `json:"Fingerprint"`
		Primary     bool   `json:"Primary"`
	} `json:"Keys"`
}

func (k nodeKeyring) primary() string {
	for _, e := range k.Keys {
		if e.Primary {
			return e.Fingerprint
		}
	}
	return ""
}

func (k nodeKeyring) has(fp string) bool {
	for _, e := range k.Keys {
		if e.Fingerprint == fp {
			return true
		}
	}
	return false
}

// gossipTarget is one node to act on.
type gossipTarget struct {
	endpoint string
	c        *opClient
}

func gossipKey(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, "usage:", gossipKeyUsage)
			return nil
		}
		fmt.Fprintln(stderr, "usage:", gossipKeyUsage)
		return errUsage
	}
	op := args[0]
	switch op {
	case "list", "install", "use", "remove", "rotate":
	default:
		fmt.Fprintf(stderr, "kmsctl: unknown gossip-key command %q\n", op)
		fmt.Fprintln(stderr, "usage:", gossipKeyUsage)
		return errUsage
	}
	fs := pflag.NewFlagSet("kmsctl gossip-key "+op, pflag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	endpoints := fs.StringSlice("endpoints", nil, "API endpoints of every node of the region (default: the addresses the nodes advertise)")
	keyFile := fs.String("key-file", "", "file holding the key to install, use or remove (base64, 32 bytes)")
	oldKeyFile := fs.String("old-key-file", "", "rotate: file holding the key to remove at the end")
	asJSON := fs.Bool("json", false, "print each node's keyring as JSON")
	if ok, err := parseFlags(fs, args[1:], 0, gossipKeyUsage, stderr); !ok {
		return err
	}
	var key, old []byte
	var err error
	if op != "list" {
		if key, err = readGossipKey(*keyFile, "--key-file"); err != nil {
			return err
		}
		defer clear(key)
	}
	if op == "rotate" {
		if old, err = readGossipKey(*oldKeyFile, "--old-key-file"); err != nil {
			return err
		}
		defer clear(old)
		if string(old) == string(key) {
			return errors.New("--key-file and --old-key-file hold the same key")
		}
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	targets, err := gossipTargets(ctx, c, *endpoints)
	if err != nil {
		return err
	}
	var last []nodeKeyring
	switch op {
	case "list":
		last, err = applyAll(ctx, targets, "list", nil, stderr)
	case "rotate":
		for _, step := range []struct {
			op  string
			key []byte
		}{{"install", key}, {"use", key}, {"remove", old}} {
			if last, err = applyAll(ctx, targets, step.op, step.key, stderr); err != nil {
				break
			}
		}
	default:
		last, err = applyAll(ctx, targets, op, key, stderr)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"Nodes": last})
	}
	return printKeyrings(stdout, last)
}

// readGossipKey reads a base64 32-byte key from a file; keys never come
// from the command line, where ps would show them.
func readGossipKey(file, flag string) ([]byte, error) {
	if file == "" {
		return nil, fmt.Errorf("%s is required", flag)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		clear(key)
		return nil, fmt.Errorf("%s: a gossip key is 32 bytes in base64", file)
	}
	return key, nil
}

// gossipTargets finds every node of the region and checks that the
// endpoints reach all of them: a rotation that misses a node would cut it
// off. With explicit endpoints, each node says who it is (a list call);
// without, the nodes' advertised API addresses are used.
func gossipTargets(ctx context.Context, c *opClient, explicit []string) ([]gossipTarget, error) {
	var resp struct {
		Members []member `json:"Members"`
	}
	if err := c.call(ctx, "ListMembers", struct{}{}, &resp); err != nil {
		return nil, err
	}
	var want []string
	for _, m := range resp.Members {
		if m.Gossip == "alive" {
			want = append(want, m.NodeID)
		}
	}
	var eps []string
	if len(explicit) > 0 {
		eps = explicit
	} else {
		u, err := url.Parse(c.base)
		if err != nil {
			return nil, err
		}
		for _, m := range resp.Members {
			if m.Gossip != "alive" {
				continue
			}
			ep, err := advertisedEndpoint(u.Scheme, m)
			if err != nil {
				return nil, err
			}
			eps = append(eps, ep)
		}
	}
	seen := map[string]string{}
	var out []gossipTarget
	for _, ep := range eps {
		t := gossipTarget{endpoint: strings.TrimRight(ep, "/"), c: c.at(ep)}
		var kr nodeKeyring
		if err := t.c.call(ctx, "GossipKeyring", gossipKeyringCall{Op: "list"}, &kr); err != nil {
			return nil, fmt.Errorf("%s: %w", t.endpoint, err)
		}
		if prev, dup := seen[kr.NodeID]; dup {
			return nil, fmt.Errorf("%s and %s are the same node %s", prev, t.endpoint, kr.NodeID)
		}
		seen[kr.NodeID] = t.endpoint
		out = append(out, t)
	}
	var missing []string
	for _, id := range want {
		if _, ok := seen[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no endpoint reaches node %s of the region; pass every node's endpoint with --endpoints", strings.Join(missing, ", "))
	}
	return out, nil
}

// advertisedEndpoint is a member's API endpoint from what it advertises. A
// node listening on every interface advertises 0.0.0.0; its cluster
// address names the host then.
func advertisedEndpoint(scheme string, m member) (string, error) {
	host, port, err := net.SplitHostPort(m.APIAddr)
	if err != nil || port == "0" {
		return "", fmt.Errorf("node %s does not advertise a usable API address (%q); pass every node's endpoint with --endpoints", m.NodeID, m.APIAddr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host, _, err = net.SplitHostPort(m.Address); err != nil || host == "" {
			return "", fmt.Errorf("node %s advertises API address %q and no cluster host; pass every node's endpoint with --endpoints", m.NodeID, m.APIAddr)
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// gossipFingerprint names a key as the nodes list it (it mirrors
// cluster.GossipKeyFingerprint; kmsctl does not link the cluster package).
func gossipFingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// gossipKeyringCall is the request body; Key is base64 in JSON.
type gossipKeyringCall struct {
	Op  string `json:"Op"`
	Key []byte `json:"Key,omitempty"`
}

// applyAll runs op on every node, in order, and stops at the first failure:
// the next step of a rotation must not start until every node has done
// this one. Each step is idempotent, so the command can be run again.
func applyAll(ctx context.Context, targets []gossipTarget, op string, key []byte, stderr io.Writer) ([]nodeKeyring, error) {
	out := make([]nodeKeyring, 0, len(targets))
	for i, t := range targets {
		var kr nodeKeyring
		if err := t.c.call(ctx, "GossipKeyring", gossipKeyringCall{Op: op, Key: key}, &kr); err != nil {
			done := make([]string, 0, i)
			for _, d := range out {
				done = append(done, d.NodeID)
			}
			return nil, fmt.Errorf("%s on %s: %w (done on: %s; the step is safe to repeat)", op, t.endpoint, err, dash(strings.Join(done, ", ")))
		}
		if op != "list" {
			fp := gossipFingerprint(key)
			if ok := map[string]bool{"install": kr.has(fp), "use": kr.primary() == fp, "remove": !kr.has(fp)}[op]; !ok {
				return nil, fmt.Errorf("%s on %s: the node answered, but its keyring does not show the change (%+v)", op, t.endpoint, kr.Keys)
			}
			fmt.Fprintf(stderr, "%s: %s %s done\n", kr.NodeID, op, fp)
		}
		out = append(out, kr)
	}
	return out, nil
}

func printKeyrings(w io.Writer, ks []nodeKeyring) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPRIMARY\tKEYS")
	for _, k := range ks {
		fps := make([]string, 0, len(k.Keys))
		for _, e := range k.Keys {
			fps = append(fps, e.Fingerprint)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", dash(k.NodeID), dash(k.primary()), strings.Join(fps, " "))
	}
	return tw.Flush()
}

// at is c aimed at another node's endpoint.
func (c *opClient) at(endpoint string) *opClient {
	d := *c
	d.base = strings.TrimRight(endpoint, "/")
	return &d
}
