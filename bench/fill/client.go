package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsnode/kmsnode/internal/loadclient"
)

const (
	targetPrefix = "TrentService."
	contentType  = "application/x-amz-json-1.1"
	maxSample    = loadclient.MaxSample
)

// client signs and sends KMS calls over one keep-alive transport.
type client struct {
	url    string // endpoint + "/"
	hc     *http.Client
	signer *v4.Signer
	creds  aws.Credentials
	region string

	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	// retryTransport: also retry connection errors (check: the node may
	// still be starting). Off for the fill: a write whose answer was lost
	// is counted, not sent again.
	retryTransport bool
}

func newClient(endpoint string, creds aws.Credentials, region string, conns int, timeout time.Duration) *client {
	tr := loadclient.NewTransport(conns, 0)
	return &client{
		url: strings.TrimSuffix(endpoint, "/") + "/", hc: &http.Client{Transport: tr, Timeout: timeout},
		signer: v4.NewSigner(), creds: creds, region: region,
		maxAttempts: 10, baseBackoff: 50 * time.Millisecond, maxBackoff: 5 * time.Second,
	}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// callError is a failed call: its type (for counting) and message.
type callError struct {
	Type string // "HTTP 400 NotFoundException", "transport: timeout", …
	Msg  string
}

func (e *callError) Error() string { return e.Type + ": " + e.Msg }

// result of one attempt.
type attempt struct {
	status     int
	body       []byte
	err        *callError
	retryable  bool
	retryAfter time.Duration
}

// call sends op with the JSON of in, retrying what may be retried, and
// decodes the answer into out (if not nil). It returns the number of
// retries made and the final error, nil on success.
func (c *client) call(ctx context.Context, op string, in, out any) (retries int, err error) {
	body, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	inv := newUUID() // the same on every retry, as the SDK does
	for n := 1; ; n++ {
		a := c.once(ctx, op, body, hash, inv, n)
		if a.err == nil {
			if out != nil {
				if err := json.Unmarshal(a.body, out); err != nil {
					return n - 1, &callError{Type: "bad answer", Msg: truncate(fmt.Sprintf("%v: %.100q", err, a.body), maxSample)}
				}
			}
			return n - 1, nil
		}
		if !a.retryable || n >= c.maxAttempts || ctx.Err() != nil {
			if a.retryable && n >= c.maxAttempts {
				a.err.Msg = fmt.Sprintf("after %d attempts: %s", n, a.err.Msg)
			}
			return n - 1, a.err
		}
		if err := sleep(ctx, c.backoff(n, a.retryAfter)); err != nil {
			return n - 1, a.err
		}
	}
}

// backoff is the wait before attempt n+1: exponential with full jitter
// above half, capped, and never less than the server's Retry-After.
func (c *client) backoff(n int, retryAfter time.Duration) time.Duration {
	d := c.baseBackoff << min(n-1, 16)
	if d > c.maxBackoff || d <= 0 {
		d = c.maxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

func (c *client) once(ctx context.Context, op string, body []byte, hash, inv string, n int) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return attempt{err: &callError{Type: "request", Msg: err.Error()}}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Set("Amz-Sdk-Invocation-Id", inv)
	req.Header.Set("Amz-Sdk-Request", fmt.Sprintf("attempt=%d; max=%d", n, c.maxAttempts))
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "kms", c.region, time.Now()); err != nil {
		return attempt{err: &callError{Type: "sign", Msg: err.Error()}}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		ce := transportError(err)
		return attempt{err: ce, retryable: c.retryTransport && ctx.Err() == nil}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return attempt{err: transportError(fmt.Errorf("reading the answer: %w", err)), retryable: c.retryTransport && ctx.Err() == nil}
	}
	if resp.StatusCode == http.StatusOK {
		return attempt{status: resp.StatusCode, body: b}
	}
	typ, msg := loadclient.AWSError(resp.Header, b)
	a := attempt{status: resp.StatusCode, body: b, err: &callError{Type: fmt.Sprintf("HTTP %d %s", resp.StatusCode, typ), Msg: msg}}
	a.retryable = resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests ||
		typ == "ThrottlingException"
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		a.retryAfter = min(time.Duration(s)*time.Second, c.maxBackoff)
	}
	return a
}

// transportError is a callError for an error below HTTP.
func transportError(err error) *callError {
	return &callError{Type: loadclient.TransportType(err), Msg: truncate(err.Error(), maxSample)}
}

func truncate(s string, n int) string { return loadclient.Truncate(s, n) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
