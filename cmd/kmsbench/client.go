package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsnode/kmsnode/internal/loadclient"
)

const (
	targetPrefix = "TrentService."
	contentType  = "application/x-amz-json-1.1"
)

// target is one server under test: one endpoint, or the endpoints of the
// nodes of one region, over which the workers spread round-robin.
type target struct {
	Name      string   `json:"name"`     // "baseline", "kmsnode"
	Endpoint  string   `json:"endpoint"` // Endpoints joined with ","
	Endpoints []string `json:"endpoints"`
	Baseline  bool     `json:"baseline"`
	PIDs      []int    `json:"pids,omitempty"` // server processes whose CPU time is measured
	urls      []string // Endpoints with the path "/"
}

func newTarget(name string, endpoints []string, baseline bool) *target {
	t := &target{Name: name, Endpoint: strings.Join(endpoints, ","), Endpoints: endpoints, Baseline: baseline}
	for _, e := range endpoints {
		t.urls = append(t.urls, e+"/")
	}
	return t
}

// urlFor is the URL worker i (from 0) sends to: endpoint i mod n.
func (t *target) urlFor(worker int) string { return t.urls[worker%len(t.urls)] }

// request is one operation's prepared request: fixed body, precomputed
// payload hash; only the signature changes from call to call.
type request struct {
	api         string // KMS operation, e.g. "Encrypt"
	target      string // X-Amz-Target value
	body        []byte
	payloadHash string // hex SHA-256 of body
}

func newRequest(api string, body []byte) *request {
	sum := sha256.Sum256(body)
	return &request{api: api, target: targetPrefix + api, body: body, payloadHash: hex.EncodeToString(sum[:])}
}

// client signs and sends requests over one keep-alive transport.
type client struct {
	tr     *http.Transport
	signer *v4.Signer
	creds  aws.Credentials
	region string
}

func newClient(creds aws.Credentials, region string, maxConcurrency int, timeout time.Duration) *client {
	tr := loadclient.NewTransport(maxConcurrency, timeout)
	return &client{tr: tr, signer: v4.NewSigner(), creds: creds, region: region}
}

// outcome is the result of one call: ok, or a failure type and message.
type outcome struct {
	ok     bool
	status int
	typ    string // failure type for errorCounts
	msg    string
}

// sign builds and signs the HTTP request for r to url at time now.
func (c *client) sign(ctx context.Context, url string, r *request, now time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", r.target)
	if err := c.signer.SignHTTP(ctx, c.creds, req, r.payloadHash, "kms", c.region, now); err != nil {
		return nil, err
	}
	return req, nil
}

// send performs req and reads the whole answer into buf.
func (c *client) send(req *http.Request, buf *bytes.Buffer) outcome {
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return transportFailure(err)
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return transportFailure(fmt.Errorf("reading the answer: %w", err))
	}
	if resp.StatusCode == http.StatusOK {
		return outcome{ok: true, status: resp.StatusCode}
	}
	typ, msg := loadclient.AWSError(resp.Header, buf.Bytes())
	return outcome{status: resp.StatusCode, typ: fmt.Sprintf("HTTP %d %s", resp.StatusCode, typ), msg: msg}
}

// transportFailure is an outcome for an error below HTTP.
func transportFailure(err error) outcome {
	return outcome{typ: loadclient.TransportType(err), msg: loadclient.Truncate(err.Error(), loadclient.MaxSample)}
}

// call sends one request to endpoint outside the measured loop (setup) and
// returns the answer's body, or an error that says what the server answered.
func (c *client) call(ctx context.Context, endpoint string, r *request) ([]byte, error) {
	req, err := c.sign(ctx, endpoint+"/", r, time.Now())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	o := c.send(req, &buf)
	if !o.ok {
		return nil, fmt.Errorf("%s %s: %s: %s", endpoint, r.api, o.typ, o.msg)
	}
	return buf.Bytes(), nil
}
