package fsm

import (
	"errors"
	"fmt"
	"testing"
)

func TestStateError(t *testing.T) {
	e := rejectf(ErrInvalidState, keyA, StatePendingDeletion)
	if got, want := e.Error(), "fsm: key state does not allow this: "+keyA+" (PendingDeletion)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := rejectf(ErrAliasNotFound, "alias/x", "").Error(), "fsm: alias not found: alias/x"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("kms: %w", e)
	var se *StateError
	if !errors.Is(wrapped, ErrInvalidState) || !errors.As(wrapped, &se) || se.Subject != keyA {
		t.Errorf("wrapped StateError does not unwrap: %v", wrapped)
	}
}

// Every rejection survives the request table's code round trip.
func TestErrorCodes_RoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, ec := range errorCodes {
		if seen[ec.code] {
			t.Errorf("duplicate code %s", ec.code)
		}
		seen[ec.code] = true
		orig := rejectf(ec.err, "subject", "state")
		if got := codeOf(orig); got != ec.code {
			t.Errorf("codeOf(%v) = %q, want %q", orig, got, ec.code)
		}
		back := errorOf(ec.code, "subject", "state")
		if !errors.Is(back, ec.err) || back.Error() != orig.Error() {
			t.Errorf("errorOf(%s) = %v, want %v", ec.code, back, orig)
		}
	}
	if codeOf(nil) != "" || errorOf("", "x", "") != nil {
		t.Error("nil does not round-trip")
	}
	if !errors.Is(errorOf("NoSuchCode", "x", ""), ErrBadCommand) {
		t.Error("an unknown code is not ErrBadCommand")
	}
	if codeOf(errors.New("other")) != "BadCommand" {
		t.Error("an unknown error is not coded BadCommand")
	}
}

func TestResult_RoundTrip(t *testing.T) {
	if ResultOf(nil).Err() != nil {
		t.Fatal("nil result did not stay nil")
	}
	in := &StateError{Err: ErrInvalidState, Subject: "k", State: "Disabled"}
	out := ResultOf(in).Err()
	var se *StateError
	if !errors.As(out, &se) || !errors.Is(out, ErrInvalidState) || *se != *in {
		t.Fatalf("round trip = %#v, want %#v", out, in)
	}
}
