package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm         = "AWS4-HMAC-SHA256"
	terminator        = "aws4_request"
	amzDateLayout     = "20060102T150405Z"
	unsignedPayload   = "UNSIGNED-PAYLOAD"
	defaultMaxSkew    = 5 * time.Minute
	maxPresignExpires = 7 * 24 * 60 * 60 // seconds, as AWS limits X-Amz-Expires

	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramSecurityToken = "X-Amz-Security-Token"
	paramContentSHA256 = "X-Amz-Content-Sha256"
)

// Options configures a Verifier.
type Options struct {
	// Service is the service name the credential scope must name ("kms").
	// Required.
	Service string
	// Region, if non-empty, is the only region accepted in the credential
	// scope. If empty, any region is accepted and reported in Result.
	Region string
	// MaxSkew is how far the request time may lie from the server clock in
	// either direction. Zero means 5 minutes, as AWS.
	MaxSkew time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// KeyCacheSize bounds the derived signing key cache: zero means a
	// default of 1024 entries, negative disables caching.
	KeyCacheSize int
}

// Verifier checks AWS Signature Version 4 signatures. It is safe for
// concurrent use.
type Verifier struct {
	store   Store
	service string
	region  string
	maxSkew time.Duration
	now     func() time.Time
	cache   *keyCache
}

// NewVerifier returns a Verifier that looks access keys up in store. It
// panics if store is nil or opts.Service is empty, both programming errors.
func NewVerifier(store Store, opts Options) *Verifier {
	if store == nil {
		panic("sigv4: NewVerifier called with a nil Store")
	}
	if opts.Service == "" {
		panic("sigv4: NewVerifier called without Options.Service")
	}
	v := &Verifier{
		store:   store,
		service: opts.Service,
		region:  opts.Region,
		maxSkew: opts.MaxSkew,
		now:     opts.Now,
		cache:   newKeyCache(opts.KeyCacheSize),
	}
	if v.maxSkew <= 0 {
		v.maxSkew = defaultMaxSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// String describes v without revealing any key material.
func (v Verifier) String() string {
	return "sigv4.Verifier{service: " + v.service + ", region: " + v.region + "}"
}

// Format writes String for every verb, so that printing a Verifier (or a
// struct holding one by value) never reveals the Store's secrets or cached
// keys through reflection.
func (v Verifier) Format(f fmt.State, _ rune) { io.WriteString(f, v.String()) }

// Result describes a verified request.
type Result struct {
	AccessKeyID string // access key ID from the credential scope
	Principal   string // Credential.Principal from the Store
	Region      string // region from the credential scope
}

// authInfo is a parsed signature, from either the Authorization header or
// presigned query parameters. Its strings alias the request's.
type authInfo struct {
	presign       bool
	credential    string // keyid/date/region/service/term
	akid          string
	scope         string // date/region/service/term
	date          string
	region        string
	service       string
	term          string
	signedHeaders string
	signature     string
	amzDate       string // request time, ISO 8601 basic format
	token         string
	hasToken      bool
	expires       int64 // presigned validity in seconds; -1 if absent
	unsigned      bool  // payload hash is UNSIGNED-PAYLOAD (refused; kept for the hash path)
	targetSent    bool  // the request carries X-Amz-Target, which must then be signed
}

// Verify checks the signature of r, whose body the caller has already read
// into body (Verify does not touch r.Body). On success it returns who signed
// the request; otherwise an error wrapping one of the package's sentinels,
// whose Message is the AWS-style client-facing text. Safe for concurrent use.
func (v *Verifier) Verify(r *http.Request, body []byte) (Result, error) {
	return v.verify(r, body, nil)
}

// verify checks r's signature against the SHA-256 of body or, when
// bodyHash is set (VerifyPayloadHash), against that hex digest.
func (v *Verifier) verify(r *http.Request, body, bodyHash []byte) (Result, error) {
	if r == nil {
		return Result{}, errMissingAuth
	}
	path, query := requestTarget(r)
	var a authInfo
	a.expires = -1
	_, a.targetSent = r.Header["X-Amz-Target"]
	authz, hasAuthz := firstValue(r.Header, "Authorization")
	presign := query != "" && hasPresignParams(query)
	var err error
	switch {
	case hasAuthz && presign:
		return Result{}, errTwoAuth
	case hasAuthz:
		err = parseHeaderAuth(r, authz, &a)
	case presign:
		err = parsePresign(r, query, &a)
	default:
		return Result{}, errMissingAuth
	}
	if err != nil {
		return Result{}, err
	}
	if err := v.checkScope(&a); err != nil {
		return Result{}, err
	}

	cred, ok := v.store.Lookup(a.akid)
	if !ok || cred.Secret == "" {
		return Result{}, errBadToken
	}
	if cred.SessionToken != "" {
		if !a.hasToken || !constantTimeEqual(a.token, cred.SessionToken) {
			return Result{}, errBadToken
		}
	} else if a.token != "" {
		return Result{}, errBadToken
	}

	s := getScratch()
	defer putScratch(s)

	var ph [2 * sha256.Size]byte
	payload := ph[:]
	if a.unsigned {
		payload = ph[:copy(ph[:], unsignedPayload)]
	} else if bodyHash != nil {
		copy(ph[:], bodyHash)
	} else {
		sum := sha256.Sum256(body)
		hex.Encode(ph[:], sum[:])
	}

	var ck cacheKey
	var key signingKey
	cached := false
	if v.cache != nil {
		ck = s.cacheKeyFor(cred.Secret, a.date, a.region, a.service)
		key, cached = v.cache.get(&ck)
	}
	if !cached {
		key = s.deriveKey(cred.Secret, a.date, a.region, a.service)
	}
	// The canonical request as AWS, botocore and the other SDKs build it:
	// dot and empty path segments removed, all whitespace runs in header
	// values collapsed. aws-sdk-go-v2 differs on both counts (it signs the
	// path verbatim and collapses only spaces), so when the request has
	// such a path or header value the other forms are tried too.
	match, odd := s.signatureMatches(r, &a, path, query, payload, &key, true, true)
	oddPath := path != "" && !isNormalPath(path)
	if !match && (oddPath || odd) {
		match, _ = s.signatureMatches(r, &a, path, query, payload, &key, false, false)
	}
	if !match && oddPath && odd {
		match, _ = s.signatureMatches(r, &a, path, query, payload, &key, true, false)
		if !match {
			match, _ = s.signatureMatches(r, &a, path, query, payload, &key, false, true)
		}
	}
	if match && !cached && v.cache != nil {
		v.cache.put(&ck, &key)
	}
	clear(key[:])
	if !match {
		return Result{}, errMismatch
	}
	return Result{AccessKeyID: a.akid, Principal: cred.Principal, Region: a.region}, nil
}

// signatureMatches builds the canonical request and string to sign in s.buf
// and compares the resulting signature with a.signature in constant time.
// normalize and allSpace select the path and header value forms (see
// appendCanonicalURI and appendHeaderValue); odd reports whether a signed
// header value has whitespace other than spaces, i.e. whether allSpace made a
// difference.
func (s *scratch) signatureMatches(r *http.Request, a *authInfo, path, query string,
	payload []byte, key *signingKey, normalize, allSpace bool) (match, odd bool) {
	if len(a.signature) != 2*sha256.Size {
		return false, false
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	b := append(s.buf[:0], method...)
	b = append(b, '\n')
	b = s.appendCanonicalURI(b, path, normalize)
	b = append(b, '\n')
	b = s.appendCanonicalQuery(b, query, a.presign)
	b = append(b, '\n')
	b, odd = s.appendCanonicalHeaders(b, r, a.signedHeaders, allSpace)
	b = append(b, '\n')
	b = append(b, a.signedHeaders...)
	b = append(b, '\n')
	b = append(b, payload...)
	crHash := sha256.Sum256(b)

	b = append(b[:0], algorithm...)
	b = append(b, '\n')
	b = append(b, a.amzDate...)
	b = append(b, '\n')
	b = append(b, a.scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, crHash[:])
	mac := hmacSHA256(&s.hbuf, key[:], b)
	s.buf = b[:0]

	var got, want [2 * sha256.Size]byte
	hex.Encode(got[:], mac[:])
	copy(want[:], a.signature)
	return hmac.Equal(got[:], want[:]), odd
}

// checkScope validates the credential scope, the request date and the clock
// skew, filling a.akid, a.scope and the scope elements.
func (v *Verifier) checkScope(a *authInfo) error {
	var parts [5]string
	rest := a.credential
	for i := 0; i < 4; i++ {
		p, tail, ok := strings.Cut(rest, "/")
		if !ok {
			return errCredentialFormat(a.credential)
		}
		parts[i], rest = p, tail
	}
	if strings.IndexByte(rest, '/') >= 0 {
		return errCredentialFormat(a.credential)
	}
	parts[4] = rest
	for _, p := range parts {
		if p == "" {
			return errCredentialFormat(a.credential)
		}
	}
	a.akid, a.date, a.region, a.service, a.term = parts[0], parts[1], parts[2], parts[3], parts[4]
	a.scope = a.credential[len(a.akid)+1:]

	if !hostSigned(a.signedHeaders) {
		return errHostNotSign
	}
	if a.targetSent && !headerSigned(a.signedHeaders, "x-amz-target") {
		return newError(ErrIncompleteSignature, "'X-Amz-Target' must be a signed header.")
	}
	t, ok := parseAmzDate(a.amzDate)
	if !ok {
		return errDateFormat(a.amzDate)
	}
	if a.date != a.amzDate[:8] {
		return errScopeDate(a.date, a.amzDate)
	}
	if a.term != terminator {
		return errTerminator(a.term)
	}
	if a.service != v.service {
		return errServiceScope(v.service)
	}
	if v.region != "" && a.region != v.region {
		return errBadRegion
	}

	now := v.now()
	if a.presign && a.expires >= 0 {
		// A presigned request lives X-Amz-Expires seconds, but never longer
		// than the clock skew a signed header request is allowed: a URL is
		// a bearer token for whatever operation it names.
		window := min(time.Duration(a.expires)*time.Second, v.maxSkew)
		if t.Before(now.Add(-window)) {
			return errExpired(a.amzDate, now, window)
		}
	} else if t.Before(now.Add(-v.maxSkew)) {
		return errExpired(a.amzDate, now, v.maxSkew)
	}
	if t.After(now.Add(v.maxSkew)) {
		return errNotYetCurrent(a.amzDate, now, v.maxSkew)
	}
	return nil
}

// parseHeaderAuth parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." and the request date headers.
func parseHeaderAuth(r *http.Request, authz string, a *authInfo) error {
	alg, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		switch {
		case k == "Credential" && a.credential == "":
			a.credential = val
		case k == "SignedHeaders" && a.signedHeaders == "":
			a.signedHeaders = val
		case k == "Signature" && a.signature == "":
			a.signature = val
		}
	}
	if alg != algorithm && (strings.HasPrefix(alg, "AWS4-") || a.credential != "" || a.signature != "") {
		return errAlgorithm(alg)
	}

	if d, ok := firstValue(r.Header, paramDate); ok && d != "" {
		a.amzDate = d
	} else if d, ok := firstValue(r.Header, "Date"); ok && d != "" {
		// AWS accepts the HTTP Date header when X-Amz-Date is absent; the
		// string to sign then carries that time in ISO 8601 basic format.
		t, err := http.ParseTime(d)
		if err != nil {
			return errDateFormat(d)
		}
		a.amzDate = formatAmzDate(t)
	}

	if alg != algorithm || a.credential == "" || a.signedHeaders == "" || a.signature == "" || a.amzDate == "" {
		var msg string
		if a.credential == "" {
			msg += "Authorization header requires 'Credential' parameter. "
		}
		if a.signature == "" {
			msg += "Authorization header requires 'Signature' parameter. "
		}
		if a.signedHeaders == "" {
			msg += "Authorization header requires 'SignedHeaders' parameter. "
		}
		if a.amzDate == "" {
			msg += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
		}
		return newError(ErrIncompleteSignature, msg+"Authorization="+echo(authz))
	}
	a.token, a.hasToken = firstValue(r.Header, paramSecurityToken)
	return nil
}

// hasPresignParams reports whether the raw query carries presigned-URL
// authentication parameters.
func hasPresignParams(q string) bool {
	if !strings.Contains(q, "X-Amz-") {
		return false
	}
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		k, _, _ := strings.Cut(part, "=")
		if k == paramAlgorithm || k == paramCredential || k == paramSignature {
			return true
		}
	}
	return false
}

// parsePresign parses the X-Amz-* query parameters of a presigned request.
func parsePresign(r *http.Request, q string, a *authInfo) error {
	a.presign = true
	var alg, expires, contentSHA string
	var hasExpires bool
	for q != "" {
		var part string
		part, q, _ = strings.Cut(q, "&")
		rk, rv, _ := strings.Cut(part, "=")
		if !strings.HasPrefix(rk, "X-Amz-") {
			continue
		}
		k, err1 := url.QueryUnescape(rk)
		val, err2 := url.QueryUnescape(rv)
		if err1 != nil || err2 != nil {
			continue
		}
		set := func(dst *string) {
			if *dst == "" {
				*dst = val
			}
		}
		switch k {
		case paramAlgorithm:
			set(&alg)
		case paramCredential:
			set(&a.credential)
		case paramDate:
			set(&a.amzDate)
		case paramSignedHeaders:
			set(&a.signedHeaders)
		case paramSignature:
			set(&a.signature)
		case paramContentSHA256:
			set(&contentSHA)
		case paramExpires:
			if !hasExpires {
				expires, hasExpires = val, true
			}
		case paramSecurityToken:
			if !a.hasToken {
				a.token, a.hasToken = val, true
			}
		}
	}
	var missing []string
	for _, p := range [...]struct{ name, val string }{
		{paramAlgorithm, alg}, {paramCredential, a.credential}, {paramSignature, a.signature},
		{paramSignedHeaders, a.signedHeaders}, {paramDate, a.amzDate},
	} {
		if p.val == "" {
			missing = append(missing, "'"+p.name+"'")
		}
	}
	if len(missing) > 0 {
		return newError(ErrIncompleteSignature, "AWS query-string parameters must include "+
			strings.Join(missing, ", ")+". Re-examine the query-string parameters.")
	}
	if alg != algorithm {
		return errAlgorithm(alg)
	}
	if hasExpires {
		n, err := strconv.ParseInt(expires, 10, 64)
		switch {
		case err != nil || n < 0:
			return newError(ErrIncompleteSignature, "X-Amz-Expires should be a non-negative number of seconds, got '"+echo(expires)+"'")
		case n > maxPresignExpires:
			return newError(ErrIncompleteSignature, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		a.expires = n
	}
	if !a.hasToken {
		a.token, a.hasToken = firstValue(r.Header, paramSecurityToken)
	}
	if h, _ := firstValue(r.Header, paramContentSHA256); h == unsignedPayload || contentSHA == unsignedPayload {
		// AWS allows an unsigned body for S3 only; for kms it would let a
		// captured URL carry any request body.
		return newError(ErrInvalidSignature, "UNSIGNED-PAYLOAD is not accepted: requests to this service must sign their body.")
	}
	return nil
}

// headerSigned reports whether the signed header list names h (lowercase).
func headerSigned(list, h string) bool {
	for list != "" {
		var name string
		name, list, _ = strings.Cut(list, ";")
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// hostSigned reports whether the signed header list names host (or the
// HTTP/2 :authority pseudo-header), which AWS requires.
func hostSigned(list string) bool {
	for list != "" {
		var name string
		name, list, _ = strings.Cut(list, ";")
		if strings.EqualFold(name, "host") || name == ":authority" {
			return true
		}
	}
	return false
}

// firstValue returns the first value of the header with canonical key k.
func firstValue(h http.Header, k string) (string, bool) {
	if vs := h[k]; len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// parseAmzDate strictly parses an ISO 8601 basic-format UTC time,
// "20261123T101500Z", without allocating.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	c, ok1 := twoDigits(s[0:2])
	yy, ok2 := twoDigits(s[2:4])
	mo, ok3 := twoDigits(s[4:6])
	d, ok4 := twoDigits(s[6:8])
	h, ok5 := twoDigits(s[9:11])
	mi, ok6 := twoDigits(s[11:13])
	sec, ok7 := twoDigits(s[13:15])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) ||
		mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(c*100+yy, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // e.g. 20260231
		return time.Time{}, false
	}
	return t, true
}

func formatAmzDate(t time.Time) string { return t.UTC().Format(amzDateLayout) }

// constantTimeEqual compares two strings in time that depends only on their
// lengths.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var x byte
	for i := 0; i < len(a); i++ {
		x |= a[i] ^ b[i]
	}
	return x == 0
}
