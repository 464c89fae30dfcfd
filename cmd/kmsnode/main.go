package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kmsnode/kmsnode/node"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "dev":
		err = runDev(args[1:], stdout, stderr)
	case "serve":
		err = runServe(args[1:], stdout, stderr)
	case "operator":
		err = runOperator(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "kmsnode", version)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "kmsnode: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "kmsnode:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `kmsnode: a self-hosted key service that speaks the AWS KMS API

Usage:
  kmsnode dev [flags]     run one development node on 127.0.0.1 (plain HTTP)
  kmsnode serve [flags]   run a node configured by flags and KMSNODE_* variables
  kmsnode operator tls ca|node [flags]
                          create a region CA and gossip key / issue node certificates
  kmsnode version

Run 'kmsnode dev --help' or 'kmsnode serve --help' for the flags.
`)
}

// runNode starts a node and blocks until SIGINT/SIGTERM or a server failure.
func runNode(cfg node.Config, debugAddr string, stdout, stderr io.Writer, started func(*node.Node)) error {
	if debugAddr != "" && !node.IsLoopback(debugAddr) {
		return fmt.Errorf("--debug-addr %s is not a loopback address: profiles are served to this machine only", debugAddr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	started(n)
	stopDebug, err := startDebug(debugAddr, stdout)
	if err != nil {
		_ = n.Close()
		return err
	}
	defer stopDebug()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "kmsnode: shutting down")
	case err = <-n.Done():
	}
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	return err
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
