package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/pflag"
)

// operatorPrefix is the X-Amz-Target prefix of kmsnode's own operator
// operations, served on the same endpoint as the KMS API (api/operator.go).
const operatorPrefix = "KmsNodeOperator."

// callTimeout bounds one operator call: RemoveNode may wait for the region
// to elect a leader and commit the configuration change.
const callTimeout = 30 * time.Second

// apiError is an AWS-shaped error answer: {"__type", "message"}.
type apiError struct {
	Type    string
	Message string
	Status  int
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// clientFlags are the connection flags shared by the operator commands.
type clientFlags struct {
	endpoint, region, caFile string
}

func (f *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.endpoint, "endpoint", envOr("KMSNODE_ENDPOINT", "http://127.0.0.1:8080"), "node API endpoint (or KMSNODE_ENDPOINT)")
	fs.StringVar(&f.region, "region", envOr("AWS_REGION", os.Getenv("AWS_DEFAULT_REGION")), "region of the node (or AWS_REGION, AWS_DEFAULT_REGION)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of a CA to trust for an https endpoint")
}

// opClient signs and sends operator calls to one node.
type opClient struct {
	base   string
	region string
	creds  aws.Credentials
	http   *http.Client
	signer *v4.Signer
}

// client builds an opClient from the flags and the AWS environment
// variables (kmsnode dev prints them).
func (f *clientFlags) client() (*opClient, error) {
	if f.region == "" {
		return nil, errors.New("no region: pass --region or set AWS_REGION")
	}
	creds := aws.Credentials{
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return nil, errors.New("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", f.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &opClient{
		base:   strings.TrimRight(f.endpoint, "/"),
		region: f.region,
		creds:  creds,
		http:   &http.Client{Timeout: callTimeout, Transport: tr},
		signer: v4.NewSigner(),
	}, nil
}

// call sends one signed operator call and decodes its answer into out.
func (c *opClient) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", operatorPrefix+op)
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), "kms", c.region, time.Now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: bad %s answer: %w", c.base, op, err)
	}
	return nil
}

// decodeError turns a failure answer into an *apiError when it is
// AWS-shaped, else into an error naming the HTTP status and body.
func decodeError(resp *http.Response, b []byte) error {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Msg     string `json:"Message"` // some AWS services capitalise it
	}
	if json.Unmarshal(b, &e) == nil && e.Type != "" {
		if e.Message == "" {
			e.Message = e.Msg
		}
		return &apiError{Type: shortType(e.Type), Message: e.Message, Status: resp.StatusCode}
	}
	if t := resp.Header.Get("X-Amzn-Errortype"); t != "" {
		return &apiError{Type: shortType(t), Message: strings.TrimSpace(string(b)), Status: resp.StatusCode}
	}
	detail := strings.TrimSpace(string(b))
	if len(detail) > 200 {
		detail = detail[:200] + "..."
	}
	if detail == "" {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return fmt.Errorf("HTTP %s: %s", resp.Status, detail)
}

// shortType strips the namespace and suffix AWS may put around an error
// type: "com.amazonaws.kms#NotFoundException:http://..." → NotFoundException.
func shortType(t string) string {
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[:i]
	}
	return t
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
