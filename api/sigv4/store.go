package sigv4

import (
	"fmt"
	"io"
)

// Credential is what the Store knows about an access key.
//
// It formats (with any fmt verb, and through String and GoString) without
// Secret and SessionToken, so printing a Credential or a StaticStore never
// reveals them.
type Credential struct {
	AccessKeyID  string
	Secret       string // secret access key; never logged
	SessionToken string // "" for long-term keys; if set, the request must carry the same X-Amz-Security-Token
	Principal    string // ARN of the identity, e.g. arn:aws:iam::111122223333:user/dev
}

// String describes c without its secret or session token.
func (c Credential) String() string {
	s := "sigv4.Credential{AccessKeyID: " + c.AccessKeyID + ", Principal: " + c.Principal + ", Secret: [REDACTED]"
	if c.SessionToken != "" {
		s += ", SessionToken: [REDACTED]"
	}
	return s + "}"
}

// GoString is like String, so that %#v does not reveal the secret either.
func (c Credential) GoString() string { return c.String() }

// Format writes String for every verb, so that no verb (%d, %x, ...) can
// print the secret through reflection.
func (c Credential) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// Store looks up access keys. Implementations must be safe for concurrent
// use. Lookup is called once per verified request, after the cheap syntactic
// checks, so it should be fast (an in-memory map or a cache in front of a
// slower source).
type Store interface {
	Lookup(accessKeyID string) (Credential, bool)
}

// StaticStore is a fixed in-memory Store keyed by access key ID. It must not
// be modified once a Verifier uses it.
type StaticStore map[string]Credential

// Lookup returns the credential stored under accessKeyID.
func (s StaticStore) Lookup(accessKeyID string) (Credential, bool) {
	c, ok := s[accessKeyID]
	return c, ok
}
