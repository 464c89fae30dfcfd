package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/kmsnode/kmsnode/internal/opclient"
)

// operatorPrefix is the X-Amz-Target prefix of kmsnode's own operator
// operations, served on the same endpoint as the KMS API (api/operator.go).
const operatorPrefix = opclient.OperatorPrefix

// callTimeout bounds one operator call.
const callTimeout = opclient.CallTimeout

// apiError is an AWS-shaped error answer.
type apiError = opclient.APIError

// clientFlags are the connection flags shared by the operator commands.
type clientFlags struct{ opclient.Flags }

func (f *clientFlags) register(fs *pflag.FlagSet) { f.Register(fs) }

// opClient signs and sends operator calls to one node (internal/opclient,
// shared with kmsnode operator).
type opClient struct {
	base   string // the node's endpoint; at() aims a copy elsewhere
	region string
	cl     *opclient.Client
}

// client builds an opClient from the flags and the AWS environment
// variables (kmsnode dev prints them).
func (f *clientFlags) client() (*opClient, error) {
	c, err := f.Client()
	if err != nil {
		return nil, err
	}
	return &opClient{base: c.Endpoint, region: c.Region(), cl: c}, nil
}

// call sends one signed operator call and decodes its answer into out.
func (c *opClient) call(ctx context.Context, op string, in, out any) error {
	return c.cl.At(c.base).Call(ctx, op, in, out)
}

// parseFlags parses a subcommand's flags and checks that it got exactly
// nargs positional arguments. ok is false when the command should stop: err
// is nil after --help, errUsage on misuse (already reported on stderr).
func parseFlags(fs *pflag.FlagSet, args []string, nargs int, usage string, stderr io.Writer) (ok bool, err error) {
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintf(stderr, "usage: %s\n%s", usage, fs.FlagUsages()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return false, nil
		}
		fmt.Fprintln(stderr, "kmsctl:", err)
		fmt.Fprintln(stderr, "usage:", usage)
		return false, errUsage
	}
	if fs.NArg() != nargs {
		if fs.NArg() > nargs {
			fmt.Fprintf(stderr, "kmsctl: unexpected argument %q\n", fs.Arg(nargs))
		} else {
			fmt.Fprintln(stderr, "kmsctl: missing argument")
		}
		fmt.Fprintln(stderr, "usage:", usage)
		return false, errUsage
	}
	return true, nil
}
