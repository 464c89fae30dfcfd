package fsm

import "errors"

// Deterministic rejections returned by Apply. Callers (package kms) match them
// with errors.Is and turn them into AWS errors; a *StateError says which
// record was involved.
var (
	ErrKeyNotFound   = errors.New("fsm: key not found")
	ErrAliasNotFound = errors.New("fsm: alias not found")
	ErrAliasExists   = errors.New("fsm: alias already exists")
	ErrInvalidState  = errors.New("fsm: key state does not allow this")
	ErrDisabled      = errors.New("fsm: key is disabled")
	ErrLimitExceeded = errors.New("fsm: limit exceeded")
	ErrConflict      = errors.New("fsm: conflicting change")
	ErrSealExists    = errors.New("fsm: seal already initialised")
	ErrBadCommand    = errors.New("fsm: invalid command")
	// Identities (identity.go).
	ErrIdentityNotFound = errors.New("fsm: identity not found")
	ErrIdentityExists   = errors.New("fsm: identity already exists")
)

// errorCodes names each rejection so the request-ID table can replay the
// result of a duplicate command. Append only.
var errorCodes = []struct {
	code string
	err  error
}{
	{"KeyNotFound", ErrKeyNotFound},
	{"AliasNotFound", ErrAliasNotFound},
	{"AliasExists", ErrAliasExists},
	{"InvalidState", ErrInvalidState},
	{"Disabled", ErrDisabled},
	{"LimitExceeded", ErrLimitExceeded},
	{"Conflict", ErrConflict},
	{"SealExists", ErrSealExists},
	{"BadCommand", ErrBadCommand},
	{"IdentityNotFound", ErrIdentityNotFound},
	{"IdentityExists", ErrIdentityExists},
}

// StateError is a rejection about one record: the key or alias it concerns and,
// for state errors, the state the key was in.
type StateError struct {
	Err     error  // one of the Err* sentinels above
	Subject string // key ID or alias name
	State   string // key state, when relevant
}

// Error describes the rejection.
func (e *StateError) Error() string {
	s := e.Err.Error() + ": " + e.Subject
	if e.State != "" {
		s += " (" + e.State + ")"
	}
	return s
}

// Unwrap returns the sentinel, for errors.Is.
func (e *StateError) Unwrap() error { return e.Err }

func rejectf(err error, subject, state string) error {
	return &StateError{Err: err, Subject: subject, State: state}
}

// codeOf and errorOf convert between rejections and their stable codes.
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "BadCommand"
}

func errorOf(code, subject, state string) error {
	if code == "" {
		return nil
	}
	for _, c := range errorCodes {
		if c.code == code {
			return &StateError{Err: c.err, Subject: subject, State: state}
		}
	}
	return &StateError{Err: ErrBadCommand, Subject: subject}
}

// Result is an Apply answer in a form that crosses the network: a follower
// that forwarded a command to the leader turns it back into the same error
// with [Result.Err].
type Result struct {
	Code    string `json:"code,omitempty"`
	Subject string `json:"subject,omitempty"`
	State   string `json:"state,omitempty"`
}

// ResultOf encodes an Apply answer (nil or a rejection).
func ResultOf(err error) Result {
	if err == nil {
		return Result{}
	}
	r := Result{Code: codeOf(err)}
	var se *StateError
	if errors.As(err, &se) {
		r.Subject, r.State = se.Subject, se.State
	}
	return r
}

// Err decodes the answer: nil, or the rejection with its sentinel.
func (r Result) Err() error { return errorOf(r.Code, r.Subject, r.State) }
