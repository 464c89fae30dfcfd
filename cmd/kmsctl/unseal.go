package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/internal/opclient"
)

// kmsctl unseal and seal-status talk to one node, unsigned: a sealed node
// cannot check signatures, and the unseal shares are the authentication
// (api/operator_seal.go). Every node is unsealed on its own.

const (
	unsealUsage     = "kmsctl unseal [--endpoint URL] [--ca-file FILE] [--share-file FILE|-] [--reset] [--json]"
	sealStatusUsage = "kmsctl seal-status [--endpoint URL] [--ca-file FILE] [--json]"
)

// sealStatusAnswer is the node's answer to Unseal and SealStatus.
type sealStatusAnswer struct {
	Sealed, Initialized bool
	Provider            string
	Threshold, Shares   int
	Progress            int
	KeyringTerm         uint32
	RetryAfterSeconds   int
}

// sealStatusOutput is what unseal and seal-status print with --json.
type sealStatusOutput struct {
	Sealed            bool   `json:"sealed"`
	Initialized       bool   `json:"initialized"`
	Provider          string `json:"provider,omitempty"`
	Threshold         int    `json:"threshold,omitempty"`
	Shares            int    `json:"shares,omitempty"`
	Progress          int    `json:"progress"`
	KeyringTerm       uint32 `json:"keyring_term,omitempty"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
}

// stdin is the share source when no file is given (tests replace it).
var stdin io.Reader = os.Stdin

func unseal(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl unseal", pflag.ContinueOnError)
	var cf opclient.Flags
	cf.Register(fs)
	shareFile := fs.String("share-file", "", "read the share from this file ('-': standard input) instead of a hidden prompt")
	reset := fs.Bool("reset", false, "drop the shares given to the node so far (then give a share, or none)")
	asJSON := fs.Bool("json", false, "print JSON")
	if ok, err := parseFlags(fs, args, 0, unsealUsage, stderr); !ok {
		return err
	}
	var share []byte
	if !*reset || *shareFile != "" {
		var err error
		if share, err = readShare(*shareFile, stderr); err != nil {
			return err
		}
		defer clear(share)
	}
	c, err := cf.Anonymous()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	req := struct {
		Key   []byte `json:",omitempty"`
		Reset bool   `json:",omitempty"`
	}{share, *reset}
	var a sealStatusAnswer
	if err := c.Call(ctx, "Unseal", req, &a); err != nil {
		return err
	}
	return printSealStatus(stdout, c.Endpoint, sealStatusOutput(a), *asJSON)
}

func sealStatus(args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("kmsctl seal-status", pflag.ContinueOnError)
	var cf opclient.Flags
	cf.Register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if ok, err := parseFlags(fs, args, 0, sealStatusUsage, stderr); !ok {
		return err
	}
	c, err := cf.Anonymous()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var a sealStatusAnswer
	if err := c.Call(ctx, "SealStatus", struct{}{}, &a); err != nil {
		return err
	}
	st := sealStatusOutput(a)
	if err := printSealStatus(stdout, c.Endpoint, st, *asJSON); err != nil {
		return err
	}
	if st.Sealed {
		return errors.New("node is sealed")
	}
	return nil
}

func printSealStatus(w io.Writer, endpoint string, st sealStatusOutput, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(st)
	}
	fmt.Fprintf(w, "endpoint     %s\nsealed       %v\ninitialized  %v\n", endpoint, st.Sealed, st.Initialized)
	if st.Provider != "" {
		fmt.Fprintf(w, "provider     %s\n", st.Provider)
	}
	if st.Threshold > 0 {
		fmt.Fprintf(w, "shares       %d (threshold %d)\n", st.Shares, st.Threshold)
		if st.Sealed {
			fmt.Fprintf(w, "progress     %d/%d\n", st.Progress, st.Threshold)
		}
	}
	if st.KeyringTerm > 0 {
		fmt.Fprintf(w, "keyring term %d\n", st.KeyringTerm)
	}
	if st.RetryAfterSeconds > 0 {
		fmt.Fprintf(w, "retry after  %ds (failed attempts)\n", st.RetryAfterSeconds)
	}
	return nil
}

// readShare reads one base64 share from file, standard input, or a prompt
// that does not echo when standard input is a terminal.
func readShare(file string, stderr io.Writer) ([]byte, error) {
	var text []byte
	var err error
	switch {
	case file != "" && file != "-":
		text, err = os.ReadFile(file)
	case file == "" && isTerminal(os.Stdin) && stdin == io.Reader(os.Stdin):
		text, err = promptHidden(stderr, "Unseal share (input hidden): ")
	default:
		text, err = io.ReadAll(io.LimitReader(stdin, 4096))
	}
	defer clear(text)
	if err != nil {
		return nil, fmt.Errorf("read the unseal share: %w", err)
	}
	return opclient.DecodeShare(text)
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// promptHidden reads a line from the terminal with echo turned off by
// stty (no terminal library dependency), restoring it on return and on
// Ctrl-C.
func promptHidden(w io.Writer, prompt string) ([]byte, error) {
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = os.Stdin
		return cmd.Run()
	}
	if err := stty("-echo"); err != nil {
		return nil, fmt.Errorf("cannot hide the input (stty: %v); use --share-file", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	done := make(chan struct{})
	go func() {
		select {
		case <-sig:
			_ = stty("echo")
			fmt.Fprintln(w)
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(sig)
		close(done)
		_ = stty("echo")
		fmt.Fprintln(w)
	}()
	fmt.Fprint(w, prompt)
	line, err := bufio.NewReader(os.Stdin).ReadBytes('\n')
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	return line, err
}
