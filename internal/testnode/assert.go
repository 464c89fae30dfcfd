package testnode

import (
	"errors"
	"testing"

	"github.com/aws/smithy-go"
)

// MustOK fails the test when err is not nil.
func MustOK(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// ErrCode returns the AWS error code (__type) of an SDK error: "" for nil,
// "<non-API error>: …" for a transport error.
func ErrCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "<non-API error>: " + err.Error()
	}
	return ae.ErrorCode()
}

// WantErr asserts that err is the AWS error code, as the SDK sees it.
func WantErr(t testing.TB, err error, code string) {
	t.Helper()
	if got := ErrCode(err); got != code {
		t.Fatalf("want %s, got %q (%v)", code, got, err)
	}
}
