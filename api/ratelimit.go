package api

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// RateLimit configures per-caller request rates. PerSecond 0 turns limiting
// off.
type RateLimit struct {
	PerSecond float64
	// Burst is how many requests a caller may make at once after being
	// idle; 0 means PerSecond rounded up (at least 1).
	Burst int
	// MaxBuckets bounds each table of buckets (access keys, addresses);
	// 0 means 65536. Idle buckets are dropped first.
	MaxBuckets int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// limiter holds a token bucket per access key ID and one per source address.
//
// A request is charged to its access key only once its signature checks
// out, so nobody can spend another identity's budget by sending requests
// that merely name its access key ID; requests that fail authentication are
// charged to their source address instead. Before any work (reading the
// body, checking the signature) a request is refused if the bucket it will
// be charged to is already empty: the bucket of the access key ID it names,
// or, when it names none, the bucket of its address. Peeking never creates
// a bucket, so unknown names cost no memory.
//
// Addresses behind a proxy all share the proxy's bucket; that only matters
// for requests that fail authentication. IPv6 addresses are grouped by /64,
// the smallest block one host usually controls.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int
	now   func() time.Time
	keys  bucketTable
	addrs bucketTable
}

// bucket is one caller's token bucket.
type bucket struct {
	tokens float64
	last   time.Time // when tokens was computed
}

// bucketTable is a bounded map of buckets. A bucket that has refilled is
// the same as no bucket, so sweeping drops those first.
type bucketTable struct {
	mu        sync.Mutex
	m         map[string]*bucket
	nextSweep time.Time
}

// defaultMaxBuckets bounds a table at roughly 10 MB.
const defaultMaxBuckets = 65536

func newLimiter(c RateLimit) *limiter {
	if !(c.PerSecond > 0) || math.IsInf(c.PerSecond, 0) {
		return nil
	}
	burst := float64(c.Burst)
	if burst <= 0 {
		burst = max(1, math.Ceil(c.PerSecond))
	}
	l := &limiter{rate: c.PerSecond, burst: burst, max: c.MaxBuckets, now: c.Now}
	if l.max <= 0 {
		l.max = defaultMaxBuckets
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.keys.m = map[string]*bucket{}
	l.addrs.m = map[string]*bucket{}
	return l
}

// admit runs before any work: it refuses a request whose bucket is already
// empty. A nil limiter admits everything.
func (l *limiter) admit(r *http.Request) error {
	if l == nil {
		return nil
	}
	now := l.now()
	if akid := claimedAccessKey(r); akid != "" {
		if !l.keys.has(l, akid, now) {
			return errThrottled
		}
		return nil
	}
	if !l.addrs.has(l, addrKey(r), now) {
		return errThrottled
	}
	return nil
}

// charge takes one token after authentication: from the access key's bucket
// when the signature was good (akid != ""), else from the source address's.
// It returns errThrottled when that bucket is empty, and authErr otherwise
// (nil for an authenticated request).
func (l *limiter) charge(r *http.Request, akid string, authErr error) error {
	if l == nil {
		return authErr
	}
	now := l.now()
	var ok bool
	if authErr == nil {
		ok = l.keys.take(l, akid, now)
	} else {
		ok = l.addrs.take(l, addrKey(r), now)
	}
	if !ok {
		return errThrottled
	}
	return authErr
}

// refill brings b up to now.
func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(l.burst, b.tokens+d*l.rate)
		b.last = now
	}
}

// has reports whether name's bucket holds a token (a missing bucket is full).
func (t *bucketTable) has(l *limiter, name string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.m[name]
	if b == nil {
		return true
	}
	l.refill(b, now)
	return b.tokens >= 1
}

// take takes a token from name's bucket, creating it full if missing.
func (t *bucketTable) take(l *limiter, name string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.m[name]
	if b == nil {
		t.makeRoom(l, now)
		b = &bucket{tokens: l.burst, last: now}
		t.m[name] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// makeRoom keeps the table under its bound before a bucket is added. Now and
// then (and whenever the table is full) it drops every bucket that has
// refilled. If the table is still full, every caller in it is spending
// right now; it then drops the longest-idle of a few buckets (map order is
// random), which at worst hands that caller a full bucket early.
func (t *bucketTable) makeRoom(l *limiter, now time.Time) {
	full := len(t.m) >= l.max
	if !full && now.Before(t.nextSweep) {
		return
	}
	t.nextSweep = now.Add(time.Minute)
	refill := l.burst / l.rate // seconds from empty to full
	for name, b := range t.m {
		if now.Sub(b.last).Seconds() >= refill {
			delete(t.m, name)
		}
	}
	for len(t.m) >= l.max {
		var victim string
		var oldest time.Time
		n := 0
		for name, b := range t.m {
			if n == 0 || b.last.Before(oldest) {
				victim, oldest = name, b.last
			}
			if n++; n == 8 {
				break
			}
		}
		delete(t.m, victim)
	}
}

// claimedAccessKey is the access key ID a request names, from the
// Authorization header or a presigned URL's X-Amz-Credential, unverified;
// "" if it names none. It parses only enough to find the name.
func claimedAccessKey(r *http.Request) string {
	cred := ""
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return ""
		}
		cred = rest
	} else if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		cred = c
	}
	akid, _, ok := strings.Cut(cred, "/")
	// Access key IDs are 16 to 128 characters (IAM); anything longer is
	// not one, and must not become a long map key.
	if !ok || akid == "" || len(akid) > 128 {
		return ""
	}
	return akid
}

// addrKey is the bucket name of a request's source address: the IPv4
// address, or the /64 of an IPv6 one.
func addrKey(r *http.Request) string {
	host := sourceIP(r)
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() != nil {
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
