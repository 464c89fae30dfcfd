package opclient

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

// OperatorPrefix is the X-Amz-Target prefix of the operator operations,
// served on the same endpoint as the KMS API.
const OperatorPrefix = "KmsNodeOperator."

// CallTimeout bounds one operator call: RemoveNode may wait for the region
// to elect a leader and commit the configuration change.
const CallTimeout = 30 * time.Second

// APIError is an AWS-shaped error answer: {"__type", "message"}.
type APIError struct {
	Type    string
	Message string
	Status  int
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// Flags are the connection flags of the operator commands.
type Flags struct {
	Endpoint, Region, CAFile string
}

// Register adds --endpoint, --region and --ca-file to fs, with defaults from
// KMSNODE_ENDPOINT, AWS_REGION and AWS_DEFAULT_REGION.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Endpoint, "endpoint", envOr("KMSNODE_ENDPOINT", "http://127.0.0.1:8080"), "node API endpoint (or KMSNODE_ENDPOINT)")
	fs.StringVar(&f.Region, "region", envOr("AWS_REGION", os.Getenv("AWS_DEFAULT_REGION")), "region of the node (or AWS_REGION, AWS_DEFAULT_REGION)")
	fs.StringVar(&f.CAFile, "ca-file", "", "PEM file of a CA to trust for an https endpoint")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Client sends operator calls to one node.
type Client struct {
	// Endpoint is the node's API URL without a trailing slash.
	Endpoint string
	region   string
	creds    aws.Credentials // zero: calls are not signed
	http     *http.Client
	signer   *v4.Signer
}

// Region is the region calls are signed for.
func (c *Client) Region() string { return c.region }

// Client builds a signing client from the flags and the AWS environment
// variables (kmsnode dev prints them).
func (f *Flags) Client() (*Client, error) {
	if f.Region == "" {
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
	c, err := f.Anonymous()
	if err != nil {
		return nil, err
	}
	c.creds = creds
	return c, nil
}

// Anonymous builds a client that does not sign, for Unseal and SealStatus;
// it needs neither credentials nor a region.
func (f *Flags) Anonymous() (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", f.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{
		Endpoint: strings.TrimRight(f.Endpoint, "/"),
		region:   f.Region,
		http:     &http.Client{Timeout: CallTimeout, Transport: tr},
		signer:   v4.NewSigner(),
	}, nil
}

// New returns a client of endpoint that signs with creds for region (zero
// creds: unsigned), over the default transport (tests, programs).
func New(endpoint, region string, creds aws.Credentials) *Client {
	return &Client{
		Endpoint: strings.TrimRight(endpoint, "/"), region: region, creds: creds,
		http: &http.Client{Timeout: CallTimeout}, signer: v4.NewSigner(),
	}
}

// At returns a copy of c aimed at another node's endpoint.
func (c *Client) At(endpoint string) *Client {
	d := *c
	d.Endpoint = strings.TrimRight(endpoint, "/")
	return &d
}

// Call sends operator operation op (without the prefix) with in as its JSON
// body and decodes the answer into out (nil: ignore it). The request body
// buffer is zeroed after the call: it may carry an unseal share or key.
func (c *Client) Call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	defer clear(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", OperatorPrefix+op)
	if c.creds.AccessKeyID != "" {
		sum := sha256.Sum256(body)
		if err := c.signer.SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), "kms", c.region, time.Now()); err != nil {
			return fmt.Errorf("sign request: %w", err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", c.Endpoint, err)
	}
	defer clear(b) // a rekey answer carries new unseal shares
	if resp.StatusCode != http.StatusOK {
		return DecodeError(resp, b)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: bad %s answer: %w", c.Endpoint, op, err)
	}
	return nil
}

// DecodeError turns a failure answer into an *APIError when it is
// AWS-shaped, else into an error naming the HTTP status and body.
func DecodeError(resp *http.Response, b []byte) error {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Msg     string `json:"Message"` // some AWS services capitalise it
	}
	if json.Unmarshal(b, &e) == nil && e.Type != "" {
		if e.Message == "" {
			e.Message = e.Msg
		}
		return &APIError{Type: ShortType(e.Type), Message: e.Message, Status: resp.StatusCode}
	}
	if t := resp.Header.Get("X-Amzn-Errortype"); t != "" {
		return &APIError{Type: ShortType(t), Message: strings.TrimSpace(string(b)), Status: resp.StatusCode}
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

// ShortType strips the namespace and suffix AWS may put around an error
// type: "com.amazonaws.kms#NotFoundException:http://..." → NotFoundException.
func ShortType(t string) string {
	if i := strings.LastIndexByte(t, '#'); i >= 0 {
		t = t[i+1:]
	}
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[:i]
	}
	return t
}
