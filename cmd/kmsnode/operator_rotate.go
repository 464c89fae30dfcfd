package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/internal/opclient"
)

// kmsnode operator rotate and rekey: online changes of the region's seal
// (design-notes §5.2), signed operator calls to one unsealed node.
//
//	rotate: a new keyring term; new key material is sealed under it.
//	rekey:  a new unseal key. shamir: a threshold of the current shares in,
//	        a new share set out (once). file/env: the new 32-byte key goes
//	        to the node over TLS; install it on every node before their next
//	        start.

const (
	rotateUsage = "kmsnode operator rotate [--endpoint URL] [--region R] [--ca-file FILE] [--json]"
	rekeyUsage  = "kmsnode operator rekey (--new-key-file FILE [--provider file|env] | [--shares N --threshold T | --nonce N] [--share-file FILE ...] | --status | --cancel) [--endpoint URL] [--region R] [--ca-file FILE]"
)

// stdinReader is where rekey reads current shares when no --share-file is
// given (tests replace it).
var stdinReader io.Reader = os.Stdin

func runOperatorRotate(args []string, stdout, stderr io.Writer) error {
	fl := pflag.NewFlagSet("kmsnode operator rotate", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf opclient.Flags
	cf.Register(fl)
	asJSON := fl.Bool("json", false, "print JSON")
	if ok, err := parseOperatorFlags(fl, args, stderr); !ok {
		return err
	}
	c, err := cf.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), opclient.CallTimeout)
	defer cancel()
	var out struct{ KeyringTerm, Terms int }
	if err := c.Call(ctx, "RotateKeyring", struct{}{}, &out); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]int{"keyring_term": out.KeyringTerm, "terms": out.Terms})
	}
	fmt.Fprintf(stdout, "keyring rotated: new key material is sealed under term %d (the region holds %d terms; older ones still open what they sealed)\n", out.KeyringTerm, out.Terms)
	return nil
}

// rekeyAnswer is the node's answer to the Rekey* operations.
type rekeyAnswer struct {
	Started      bool
	Nonce        string
	Threshold    int
	Progress     int
	NewShares    int
	NewThreshold int
	Complete     bool
	Keys         [][]byte
}

func runOperatorRekey(args []string, stdout, stderr io.Writer) error {
	fl := pflag.NewFlagSet("kmsnode operator rekey", pflag.ContinueOnError)
	fl.SetOutput(stderr)
	var cf opclient.Flags
	cf.Register(fl)
	newKeyFile := fl.String("new-key-file", "", "file/env seal: the new 32-byte unseal key (raw or base64); it travels to the node over the connection, so use https")
	provider := fl.String("provider", "", "file/env seal: the provider whose key to replace (default: the node's)")
	shares := fl.Int("shares", 0, "shamir seal: start a rekey to this many new shares")
	threshold := fl.Int("threshold", 0, "shamir seal: shares of the new set needed to unseal")
	nonce := fl.String("nonce", "", "shamir seal: continue the rekey in progress with this nonce")
	shareFiles := fl.StringArray("share-file", nil, "shamir seal: a file holding one current share (repeatable; '-' or none: one share per line on standard input)")
	status := fl.Bool("status", false, "shamir seal: show the rekey in progress")
	cancelRekey := fl.Bool("cancel", false, "shamir seal: cancel the rekey in progress")
	if ok, err := parseOperatorFlags(fl, args, stderr); !ok {
		return err
	}
	c, err := cf.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*opclient.CallTimeout)
	defer cancel()
	switch {
	case *newKeyFile != "":
		return rekeyKEK(ctx, c, *newKeyFile, *provider, stdout)
	case *status:
		var st rekeyAnswer
		if err := c.Call(ctx, "RekeyStatus", struct{}{}, &st); err != nil {
			return err
		}
		if !st.Started {
			fmt.Fprintln(stdout, "no rekey in progress on this node")
			return nil
		}
		fmt.Fprintf(stdout, "rekey %s: %d/%d current shares given; new set of %d shares, threshold %d\n", st.Nonce, st.Progress, st.Threshold, st.NewShares, st.NewThreshold)
		return nil
	case *cancelRekey:
		if err := c.Call(ctx, "RekeyCancel", struct{}{}, nil); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rekey cancelled; the current unseal shares stay valid")
		return nil
	case *nonce == "" && (*shares == 0 || *threshold == 0):
		fmt.Fprintln(stderr, "kmsnode operator rekey: give --new-key-file (file/env seal), or --shares and --threshold (shamir seal), or --nonce, --status or --cancel")
		fmt.Fprintln(stderr, "usage:", rekeyUsage)
		return errUsage
	}
	return rekeyShamir(ctx, c, *nonce, *shares, *threshold, *shareFiles, stdout, stderr)
}

// rekeyKEK sends a new unseal key for a file or env seal.
func rekeyKEK(ctx context.Context, c *opclient.Client, file, provider string, stdout io.Writer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read the new unseal key: %w", err)
	}
	defer clear(b)
	key := b
	if len(b) != 32 {
		t := bytes.TrimSpace(b)
		key = make([]byte, base64.StdEncoding.DecodedLen(len(t)))
		n, err := base64.StdEncoding.Decode(key, t)
		if err != nil || n != 32 {
			clear(key)
			return fmt.Errorf("%s: the unseal key must be 32 bytes, raw or base64", file)
		}
		key = key[:n]
		defer clear(key)
	}
	req := struct {
		Provider string `json:",omitempty"`
		NewKey   []byte
	}{provider, key}
	var out struct{ Provider string }
	if err := c.Call(ctx, "RekeyKey", req, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "unseal key of provider %s replaced: the previous key no longer opens the region.\n"+
		"Install %s as the unseal key of every %s node (--seal-key-file or KMSNODE_SEAL_KEY) before it next starts.\n", out.Provider, file, out.Provider)
	return nil
}

// rekeyShamir starts (or continues) a Shamir rekey, gives it the current
// shares it can read, and prints the new shares when it completes.
func rekeyShamir(ctx context.Context, c *opclient.Client, nonce string, shares, threshold int, files []string, stdout, stderr io.Writer) error {
	var st rekeyAnswer
	if nonce == "" {
		if err := c.Call(ctx, "RekeyInit", map[string]int{"Shares": shares, "Threshold": threshold}, &st); err != nil {
			return err
		}
		nonce = st.Nonce
		fmt.Fprintf(stderr, "rekey %s started: give %d current unseal shares\n", nonce, st.Threshold)
	}
	next, done := shareSource(files)
	defer done()
	for {
		share, err := next()
		if errors.Is(err, io.EOF) {
			fmt.Fprintf(stdout, "rekey %s waits for more current shares (%d/%d given): continue with --nonce %s\n", nonce, st.Progress, st.Threshold, nonce)
			return nil
		}
		if err != nil {
			return err
		}
		req := struct {
			Nonce string
			Key   []byte
		}{nonce, share}
		err = c.Call(ctx, "RekeyUpdate", req, &st)
		clear(share)
		if err != nil {
			return err
		}
		if st.Complete {
			printNewShares(stdout, st)
			return nil
		}
		fmt.Fprintf(stderr, "share accepted: %d/%d\n", st.Progress, st.Threshold)
	}
}

func printNewShares(w io.Writer, st rekeyAnswer) {
	var text []byte
	text = fmt.Appendf(text, "\nThe unseal key was replaced; the previous shares no longer open the region.\nNew unseal shares (%d, threshold %d):\n\n", len(st.Keys), st.NewThreshold)
	for i, k := range st.Keys {
		text = fmt.Appendf(text, "  Unseal share %d: ", i+1)
		text = base64.StdEncoding.AppendEncode(text, k)
		text = append(text, '\n')
		clear(k)
	}
	text = fmt.Appendf(text, "\nThey are shown ONCE and stored nowhere: give each to a different operator now.\n")
	_, _ = w.Write(text)
	clear(text)
}

// shareSource returns a function yielding one current share per call, from
// the files in order, else one per line of standard input; io.EOF when
// there are no more.
func shareSource(files []string) (next func() ([]byte, error), done func()) {
	if len(files) > 0 && !(len(files) == 1 && files[0] == "-") {
		i := 0
		return func() ([]byte, error) {
			if i == len(files) {
				return nil, io.EOF
			}
			b, err := os.ReadFile(files[i])
			i++
			if err != nil {
				return nil, fmt.Errorf("read a current share: %w", err)
			}
			defer clear(b)
			return opclient.DecodeShare(b)
		}, func() {}
	}
	// Standard input is read whole into a buffer zeroed when done (a
	// Scanner's buffer could not be).
	all, err := io.ReadAll(io.LimitReader(stdinReader, 1<<20))
	lines := bytes.Split(all, []byte("\n"))
	return func() ([]byte, error) {
			if err != nil {
				return nil, fmt.Errorf("read current shares: %w", err)
			}
			for len(lines) > 0 {
				line := bytes.TrimSpace(lines[0])
				lines = lines[1:]
				if len(line) > 0 {
					return opclient.DecodeShare(line)
				}
			}
			return nil, io.EOF
		}, func() {
			clear(all)
		}
}
