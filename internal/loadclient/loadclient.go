package loadclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// MaxSample bounds the error message kept per failure type.
const MaxSample = 200

// NewTransport returns a keep-alive transport for conns concurrent callers
// of one local server. It has no Proxy: a local node must not be reached
// through HTTP_PROXY. headerTimeout (0: none) bounds the wait for an
// answer's headers.
func NewTransport(conns int, headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   conns + 4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		DisableCompression:    true,
	}
}

// AWSError extracts the AWS error type and message of a failed answer.
func AWSError(h http.Header, body []byte) (typ, msg string) {
	var e struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(body, &e)
	typ = h.Get("X-Amzn-Errortype")
	if typ == "" {
		typ = e.Type
	}
	// "com.amazonaws.kms#NotFoundException" and "NotFoundException:http://…"
	// are both NotFoundException.
	if i := strings.LastIndexByte(typ, '#'); i >= 0 {
		typ = typ[i+1:]
	}
	if i := strings.IndexByte(typ, ':'); i >= 0 {
		typ = typ[:i]
	}
	if typ == "" {
		typ = "(no __type)"
	}
	msg = e.Message
	if msg == "" {
		msg = e.Message2
	}
	if msg == "" {
		msg = strings.TrimSpace(string(body))
	}
	return typ, Truncate(msg, MaxSample)
}

// TransportType classifies an error below HTTP into a small set of types
// ("transport: timeout", …), so that tables of failures stay short.
func TransportType(err error) string {
	var ne net.Error
	typ := "other"
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		typ = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		typ = "connection reset"
	case errors.Is(err, syscall.EPIPE):
		typ = "broken pipe"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		typ = "connection closed (EOF)"
	case errors.Is(err, context.Canceled):
		typ = "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		typ = "timeout"
	}
	return "transport: " + typ
}

// Truncate cuts s to n bytes, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
