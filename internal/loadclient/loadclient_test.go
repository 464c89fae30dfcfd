package loadclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

func TestAWSErrorType(t *testing.T) {
	h := http.Header{}
	typ, msg := AWSError(h, []byte(`{"__type":"com.amazonaws.kms#NotFoundException","message":"Key not found"}`))
	if typ != "NotFoundException" || msg != "Key not found" {
		t.Errorf("got %q %q", typ, msg)
	}
	h.Set("X-Amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/")
	if typ, _ := AWSError(h, []byte(`{"Message":"slow down"}`)); typ != "ThrottlingException" {
		t.Errorf("header type %q", typ)
	}
	if typ, msg := AWSError(http.Header{}, []byte("Bad Gateway")); typ != "(no __type)" || msg != "Bad Gateway" {
		t.Errorf("no type: %q %q", typ, msg)
	}
}

func TestTransportType(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("dial: %w", syscall.ECONNREFUSED): "transport: connection refused",
		context.DeadlineExceeded:                     "transport: timeout",
		context.Canceled:                             "transport: canceled",
		errors.New("odd"):                            "transport: other",
	} {
		if got := TransportType(err); got != want {
			t.Errorf("TransportType(%v) = %q, want %q", err, got, want)
		}
	}
	if got := Truncate(strings.Repeat("x", 10), 4); got != "xxxx…" {
		t.Errorf("Truncate = %q", got)
	}
}
