package opclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Stream sends operator operation op with a body too large for Call (a
// snapshot archive: size bytes whose hex SHA-256 is sum, declared in
// X-Amz-Content-Sha256 and signed over, as the node requires for a
// streamed body) and the query parameters, which are signed too. The body
// is sent without a Content-Type: it is not JSON.
//
// It returns the successful response, whose body the caller reads and
// closes; a failure answer becomes an *APIError. There is no overall
// timeout: ctx bounds the call.
func (c *Client) Stream(ctx context.Context, op string, query url.Values, body io.Reader, size int64, sum string) (*http.Response, error) {
	u := c.Endpoint + "/"
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("X-Amz-Target", OperatorPrefix+op)
	req.Header.Set("X-Amz-Content-Sha256", sum)
	return c.do(ctx, req, sum)
}

// Fetch sends operator operation op with the JSON body in and returns the
// successful response unread, for an answer too large for Call (a
// snapshot archive), without Call's overall timeout: ctx bounds it.
func (c *Client) Fetch(ctx context.Context, op string, in any) (*http.Response, error) {
	body, err := jsonBody(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", OperatorPrefix+op)
	s := sha256.Sum256(body)
	return c.do(ctx, req, hex.EncodeToString(s[:]))
}

func (c *Client) do(ctx context.Context, req *http.Request, sum string) (*http.Response, error) {
	if c.creds.AccessKeyID != "" {
		if err := c.signer.SignHTTP(ctx, c.creds, req, sum, "kms", c.region, time.Now()); err != nil {
			return nil, fmt.Errorf("sign request: %w", err)
		}
	}
	hc := *c.http
	hc.Timeout = 0 // the transfer may take long; ctx bounds it
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Endpoint, err)
		}
		return nil, DecodeError(resp, b)
	}
	return resp, nil
}

func jsonBody(in any) ([]byte, error) {
	if in == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(in)
}

// HTTPClient returns an HTTP client with the client's transport (its
// --ca-file trust) and the given overall timeout, for unsigned probes
// (/healthz, /readyz).
func (c *Client) HTTPClient(timeout time.Duration) *http.Client {
	hc := *c.http
	hc.Timeout = timeout
	return &hc
}
