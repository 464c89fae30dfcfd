package sigv4

import (
	"errors"
	"strconv"
	"time"
)

// ErrMissingAuth reports a request that carries neither an Authorization
// header nor presigned query parameters. It maps to
// MissingAuthenticationTokenException.
var ErrMissingAuth = errors.New("sigv4: missing authentication token")

// ErrIncompleteSignature reports a malformed or incomplete signature: a
// garbled Authorization header, a missing Credential, SignedHeaders or
// Signature, a credential scope that is not
// keyid/date/region/service/aws4_request, a missing or malformed X-Amz-Date,
// an unsigned host header or an unsupported algorithm. It maps to
// IncompleteSignatureException.
var ErrIncompleteSignature = errors.New("sigv4: incomplete signature")

// ErrInvalidSignature reports a well-formed signature that does not verify:
// a mismatch, a request time outside the allowed skew (or past the presigned
// expiry), or a credential scope whose region, service, terminator or date
// is wrong. It maps to InvalidSignatureException.
var ErrInvalidSignature = errors.New("sigv4: invalid signature")

// ErrUnrecognizedClient reports an access key ID that the Store does not
// know, or a session token that does not match the one the Store holds for
// the key. It maps to UnrecognizedClientException.
var ErrUnrecognizedClient = errors.New("sigv4: unrecognized client")

// AWS wording of the fixed messages.
const (
	msgMissingAuth = "Missing Authentication Token"
	msgMismatch    = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgBadToken    = "The security token included in the request is invalid."
	msgBadRegion   = "Credential should be scoped to a valid region. "
	msgHostNotSign = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgTwoAuth     = "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, " +
		"Signature query string parameter or the Authorization header should be specified"
	msgIncomplete = "Request signature is incomplete."

	// maxEcho caps how much client input is echoed back in a message.
	maxEcho = 256
)

// authError is an error of this package: a sentinel plus the client-facing
// AWS-style message. Its text is "<sentinel>: <message>".
type authError struct {
	kind error
	msg  string
}

func (e *authError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *authError) Unwrap() error { return e.kind }

func newError(kind error, msg string) error { return &authError{kind: kind, msg: msg} }

// Preallocated errors for the fixed messages, so failing requests do not
// allocate either.
var (
	errMissingAuth = newError(ErrMissingAuth, msgMissingAuth)
	errMismatch    = newError(ErrInvalidSignature, msgMismatch)
	errBadToken    = newError(ErrUnrecognizedClient, msgBadToken)
	errBadRegion   = newError(ErrInvalidSignature, msgBadRegion)
	errHostNotSign = newError(ErrIncompleteSignature, msgHostNotSign)
	errTwoAuth     = newError(ErrIncompleteSignature, msgTwoAuth)
)

// Message returns the client-facing part of an error produced by this
// package (the AWS-style text after the sentinel's prefix), or "" if err did
// not come from here. A bare sentinel yields a generic AWS message.
func Message(err error) string {
	if err == nil {
		return ""
	}
	var ae *authError
	if errors.As(err, &ae) {
		return ae.msg
	}
	switch {
	case errors.Is(err, ErrMissingAuth):
		return msgMissingAuth
	case errors.Is(err, ErrIncompleteSignature):
		return msgIncomplete
	case errors.Is(err, ErrInvalidSignature):
		return msgMismatch
	case errors.Is(err, ErrUnrecognizedClient):
		return msgBadToken
	}
	return ""
}

// echo returns client input shortened for inclusion in a message.
func echo(s string) string {
	if len(s) > maxEcho {
		return s[:maxEcho] + "..."
	}
	return s
}

func errServiceScope(service string) error {
	return newError(ErrInvalidSignature, "Credential should be scoped to correct service: '"+service+"'. ")
}

func errTerminator(term string) error {
	return newError(ErrInvalidSignature,
		"Credential should be scoped with a valid terminator: 'aws4_request', not '"+echo(term)+"'. ")
}

func errCredentialFormat(cred string) error {
	return newError(ErrIncompleteSignature,
		"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+echo(cred)+"'")
}

func errScopeDate(scopeDate, amzDate string) error {
	return newError(ErrInvalidSignature,
		"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			echo(scopeDate)+"' != '"+amzDate[:8]+"', from '"+amzDate+"'.")
}

func errDateFormat(date string) error {
	return newError(ErrIncompleteSignature,
		"Date must be in ISO-8601 'basic format'. Got '"+echo(date)+"'. See http://en.wikipedia.org/wiki/ISO_8601")
}

func errAlgorithm(alg string) error {
	return newError(ErrIncompleteSignature, "Unsupported AWS 'algorithm': '"+echo(alg)+"'")
}

// skewText renders d the way AWS does in its expiry messages ("5 min.").
func skewText(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec."
}

func errExpired(reqDate string, now time.Time, window time.Duration) error {
	return newError(ErrInvalidSignature, "Signature expired: "+reqDate+" is now earlier than "+
		formatAmzDate(now.Add(-window))+" ("+formatAmzDate(now)+" - "+skewText(window)+")")
}

func errNotYetCurrent(reqDate string, now time.Time, window time.Duration) error {
	return newError(ErrInvalidSignature, "Signature not yet current: "+reqDate+" is still later than "+
		formatAmzDate(now.Add(window))+" ("+formatAmzDate(now)+" + "+skewText(window)+")")
}
