package sigv4

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// scratch holds the per-call buffers. It is pooled so that a verification
// allocates nothing in the common case.
type scratch struct {
	buf   []byte   // canonical request, then string to sign
	hbuf  []byte   // HMAC / cache-key input (may hold secret material; cleared after use)
	kbuf  []byte   // "AWS4"+secret (cleared after use)
	qbuf  []byte   // canonical query components
	hname []byte   // canonical MIME form of a signed header name
	pairs []qpair  // query parameters being sorted
	segs  []string // path segments while normalising
}

// qpair is one canonical (encoded) query parameter.
type qpair struct{ k, v []byte }

var scratchPool = sync.Pool{New: func() any {
	return &scratch{
		buf:  make([]byte, 0, 1024),
		hbuf: make([]byte, 0, 256),
	}
}}

// maxPooled is the largest buffer returned to the pool; bigger ones (from
// unusual requests) are left to the garbage collector.
const maxPooled = 64 << 10

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	if cap(s.buf) > maxPooled || cap(s.qbuf) > maxPooled || cap(s.hbuf) > maxPooled ||
		cap(s.kbuf) > maxPooled || cap(s.pairs) > 1024 || cap(s.segs) > 1024 {
		return
	}
	clear(s.pairs) // drop references into old query buffers
	s.pairs = s.pairs[:0]
	clear(s.segs)
	s.segs = s.segs[:0]
	scratchPool.Put(s)
}

// unreserved reports the RFC 3986 unreserved characters, the only ones
// SigV4 leaves unencoded (plus '/' in paths).
var unreserved = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['-'], t['.'], t['_'], t['~'] = true, true, true, true
	return t
}()

const upperHex = "0123456789ABCDEF"

func appendEscapedByte(b []byte, c byte) []byte {
	return append(b, '%', upperHex[c>>4], upperHex[c&15])
}

// appendEncodedPath URI-encodes p as SigV4 does for non-S3 services: every
// byte except unreserved characters and '/' becomes %XX. Applied to the
// already-encoded request path this is the "double encoding".
func appendEncodedPath(b []byte, p string) []byte {
	for i := 0; i < len(p); i++ {
		if c := p[i]; unreserved[c] || c == '/' {
			b = append(b, c)
		} else {
			b = appendEscapedByte(b, c)
		}
	}
	return b
}

// isNormalPath reports whether p is already in the normal form AWS uses for
// the canonical URI: it starts with '/', and has no empty, "." or ".."
// segments (a single trailing '/' is allowed).
func isNormalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	rest := p[1:]
	for rest != "" {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		if !more {
			break
		}
		rest = tail
	}
	return true
}

// appendCanonicalURI appends the canonical URI of the raw (escaped) request
// path p. With normalize, empty, "." and ".." segments are removed first,
// as AWS (and botocore) do for every service but S3; without it the path is
// taken verbatim, as aws-sdk-go-v2 signs it.
func (s *scratch) appendCanonicalURI(b []byte, p string, normalize bool) []byte {
	if p == "" {
		return append(b, '/')
	}
	if !normalize || isNormalPath(p) {
		return appendEncodedPath(b, p)
	}
	segs := s.segs[:0]
	for rest, more := p, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	b = append(b, '/')
	for i, seg := range segs {
		if i > 0 {
			b = append(b, '/')
		}
		b = appendEncodedPath(b, seg)
	}
	if len(segs) > 0 && p[len(p)-1] == '/' {
		b = append(b, '/')
	}
	clear(segs)
	s.segs = segs[:0]
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) {
				return false
			}
			if _, ok := unhex(s[i+1]); !ok {
				return false
			}
			if _, ok := unhex(s[i+2]); !ok {
				return false
			}
			i += 2
		}
	}
	return true
}

// appendQueryComponent appends the canonical form of one raw query name or
// value: it is decoded (with '+' meaning space, as url.ParseQuery does) and
// re-encoded with every non-unreserved byte as %XX. A component with a
// malformed escape is appended verbatim, since it cannot be decoded.
func appendQueryComponent(b []byte, s string) []byte {
	if !validEscapes(s) {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			hi, _ := unhex(s[i+1])
			lo, _ := unhex(s[i+2])
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		if unreserved[c] {
			b = append(b, c)
		} else {
			b = appendEscapedByte(b, c)
		}
	}
	return b
}

func comparePairs(a, b qpair) int {
	if c := bytes.Compare(a.k, b.k); c != 0 {
		return c
	}
	return bytes.Compare(a.v, b.v)
}

// appendCanonicalQuery appends the canonical query string of the raw query:
// each parameter decoded and re-encoded, sorted by encoded name and then
// encoded value, joined by '&'. With presign, X-Amz-Signature is left out.
func (s *scratch) appendCanonicalQuery(b []byte, raw string, presign bool) []byte {
	if raw == "" {
		return b
	}
	q := s.qbuf[:0]
	pairs := s.pairs[:0]
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		start := len(q)
		q = appendQueryComponent(q, k)
		kEnd := len(q)
		if presign && string(q[start:kEnd]) == paramSignature {
			q = q[:start]
			continue
		}
		q = appendQueryComponent(q, v)
		// The slices stay valid even if q is reallocated later: they keep
		// the old backing array, whose bytes are already final.
		pairs = append(pairs, qpair{k: q[start:kEnd:kEnd], v: q[kEnd:len(q):len(q)]})
	}
	slices.SortFunc(pairs, comparePairs)
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	s.qbuf, s.pairs = q[:0], pairs[:0]
	return b
}

// tokenByte marks the bytes allowed in an HTTP header field name, i.e.
// those textproto.CanonicalMIMEHeaderKey will canonicalise.
var tokenByte = func() (t [256]bool) {
	for i := range t {
		c := byte(i)
		t[i] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
	}
	return t
}()

// knownHeaderKey returns the canonical MIME key of the header names AWS
// SDKs usually sign, saving the general conversion on the hot path.
func knownHeaderKey(name string) string {
	switch name {
	case "content-type":
		return "Content-Type"
	case "content-length":
		return "Content-Length"
	case "x-amz-date":
		return "X-Amz-Date"
	case "x-amz-target":
		return "X-Amz-Target"
	case "x-amz-security-token":
		return "X-Amz-Security-Token"
	case "x-amz-content-sha256":
		return "X-Amz-Content-Sha256"
	case "x-amz-user-agent":
		return "X-Amz-User-Agent"
	case "amz-sdk-invocation-id":
		return "Amz-Sdk-Invocation-Id"
	case "amz-sdk-request":
		return "Amz-Sdk-Request"
	case "accept-encoding":
		return "Accept-Encoding"
	}
	return ""
}

// headerValues returns the values of the header named (in any case) name,
// looking it up under its canonical MIME key, as http.Header.Values does,
// without allocating.
func (s *scratch) headerValues(h http.Header, name string) []string {
	if k := knownHeaderKey(name); k != "" {
		return h[k]
	}
	k := s.hname[:0]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !tokenByte[c] {
			return h[name] // textproto leaves such names unmodified
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		upper = c == '-'
		k = append(k, c)
	}
	s.hname = k
	return h[string(k)] // no allocation: the compiler avoids the conversion
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// appendHeaderValue appends v trimmed of surrounding whitespace and with
// runs of whitespace collapsed to one space. With allSpace, a run is any mix
// of space, tab, CR, LF, VT and FF, as AWS documents "Trimall" and botocore
// (the aws CLI), the JavaScript and Java SDKs implement it; without it only
// runs of spaces collapse and other whitespace is kept, as aws-sdk-go-v2
// does. odd reports whether v holds such other whitespace, i.e. whether the
// two forms can differ.
func appendHeaderValue(b []byte, v string, allSpace bool) (_ []byte, odd bool) {
	v = strings.TrimSpace(v)
	inRun := false // the previous byte was collapsed into a space
	for i := 0; i < len(v); i++ {
		c := v[i]
		other := c != ' ' && isSpace(c)
		odd = odd || other
		if c == ' ' || allSpace && other {
			if !inRun {
				b = append(b, ' ')
			}
			inRun = true
			continue
		}
		inRun = false
		b = append(b, c)
	}
	return b, odd
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// appendCanonicalHeaders appends "name:value\n" for every name in the
// semicolon-separated signed header list, in list order. host (and the
// HTTP/2 :authority) come from r.Host; content-length falls back to
// r.ContentLength when the header map lacks it (client-side requests); a
// header that is absent contributes an empty value. Values are trimmed by
// appendHeaderValue; odd reports whether any has whitespace other than
// spaces inside.
func (s *scratch) appendCanonicalHeaders(b []byte, r *http.Request, signed string, allSpace bool) (_ []byte, odd bool) {
	for signed != "" {
		var name string
		name, signed, _ = strings.Cut(signed, ";")
		for i := 0; i < len(name); i++ {
			b = append(b, lowerASCII(name[i]))
		}
		b = append(b, ':')
		switch {
		case strings.EqualFold(name, "host"), name == ":authority":
			b, _ = appendHeaderValue(b, requestHost(r), allSpace)
		default:
			vals := s.headerValues(r.Header, name)
			if len(vals) == 0 && strings.EqualFold(name, "content-length") && r.ContentLength >= 0 {
				b = strconv.AppendInt(b, r.ContentLength, 10)
			}
			for i, v := range vals {
				if i > 0 {
					b = append(b, ',')
				}
				var o bool
				b, o = appendHeaderValue(b, v, allSpace)
				odd = odd || o
			}
		}
		b = append(b, '\n')
	}
	return b, odd
}

func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	if r.URL != nil {
		return r.URL.Host
	}
	return ""
}

// requestTarget returns the raw (escaped) path and raw query exactly as the
// client sent them: from r.RequestURI on server requests (so middleware that
// rewrites r.URL cannot break verification), else from r.URL.
func requestTarget(r *http.Request) (path, query string) {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		path, query, _ = strings.Cut(u, "?")
		return path, query
	}
	if r.URL == nil {
		return "/", ""
	}
	if r.URL.Opaque != "" {
		// "//host/path" form, as the AWS SDK documents for pre-escaped paths.
		o := strings.TrimPrefix(r.URL.Opaque, "//")
		if i := strings.IndexByte(o, '/'); i >= 0 {
			return o[i:], r.URL.RawQuery
		}
		return "/", r.URL.RawQuery
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}
