package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                { return c.t }
func (c *fakeClock) add(d time.Duration)           { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                     { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func limiterAt(c *fakeClock, r RateLimit) *limiter { r.Now = c.now; return newLimiter(r) }

// signedBy is a request whose Authorization header names akid, from addr.
func signedBy(akid, addr string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = addr
	if akid != "" {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+akid+"/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
	}
	return r
}

var errBadSig = errors.New("bad signature")

// call runs one request through the limiter as the server does and
// reports whether it was throttled.
func call(l *limiter, r *http.Request, authOK bool) bool {
	if err := l.admit(r); err != nil {
		return true
	}
	akid, authErr := claimedAccessKey(r), error(nil)
	if !authOK {
		akid, authErr = "", errBadSig
	}
	return errors.Is(l.charge(r, akid, authErr), errThrottled)
}

func TestLimiterOff(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		l := newLimiter(RateLimit{PerSecond: rate})
		if l != nil {
			t.Fatalf("rate %v: limiter on", rate)
		}
		for range 1000 {
			if call(l, signedBy("AKIDA", "192.0.2.1:1"), true) || call(l, signedBy("", "192.0.2.1:1"), false) {
				t.Fatal("a nil limiter throttled")
			}
		}
	}
}

func TestLimiterTokenBucket(t *testing.T) {
	clk := newFakeClock()
	l := limiterAt(clk, RateLimit{PerSecond: 2, Burst: 3})
	r := signedBy("AKIDA", "192.0.2.1:1")
	for i := range 3 {
		if call(l, r, true) {
			t.Fatalf("request %d of the burst throttled", i+1)
		}
	}
	if !call(l, r, true) {
		t.Fatal("the 4th request at once was not throttled")
	}
	clk.add(500 * time.Millisecond) // one token at 2/s
	if call(l, r, true) {
		t.Fatal("throttled after refilling one token")
	}
	if !call(l, r, true) {
		t.Fatal("a second request on one refilled token passed")
	}
	clk.add(time.Hour) // the bucket holds at most Burst
	n := 0
	for !call(l, r, true) {
		n++
	}
	if n != 3 {
		t.Fatalf("%d requests after a long idle time, want the burst of 3", n)
	}
	// Another identity has its own bucket.
	if call(l, signedBy("AKIDB", "192.0.2.1:1"), true) {
		t.Fatal("identity B throttled by A's use")
	}
}

func TestLimiterDefaultBurst(t *testing.T) {
	for rate, want := range map[float64]int{0.5: 1, 1: 1, 2.5: 3, 10: 10} {
		l := limiterAt(newFakeClock(), RateLimit{PerSecond: rate})
		n := 0
		for !call(l, signedBy("AKIDA", "192.0.2.1:1"), true) {
			n++
		}
		if n != want {
			t.Errorf("rate %v: burst %d, want %d", rate, n, want)
		}
	}
}

// Requests that fail authentication are charged to their address, never to
// the access key they name: nobody can spend another identity's budget.
func TestLimiterFailuresChargeTheAddress(t *testing.T) {
	clk := newFakeClock()
	l := limiterAt(clk, RateLimit{PerSecond: 1, Burst: 2})
	attacker := "198.51.100.7:4444"
	for i := range 2 {
		if call(l, signedBy("AKIDVICTIM", attacker), false) {
			t.Fatalf("bad signature %d throttled within the address burst", i+1)
		}
	}
	if !call(l, signedBy("AKIDVICTIM", attacker), false) {
		t.Fatal("bad signatures beyond the address burst not throttled")
	}
	if !call(l, signedBy("", attacker), false) {
		t.Fatal("an unsigned request from the throttled address was admitted")
	}
	// The victim, from anywhere, and the attacker's own valid requests
	// under another identity are unaffected.
	for _, r := range []*http.Request{signedBy("AKIDVICTIM", "192.0.2.1:1"), signedBy("AKIDVICTIM", attacker), signedBy("AKIDOTHER", attacker)} {
		if call(l, r, true) {
			t.Fatalf("authenticated request %s from %s throttled", claimedAccessKey(r), r.RemoteAddr)
		}
	}
	// Another address is unaffected.
	if call(l, signedBy("", "203.0.113.9:1"), false) {
		t.Fatal("another address throttled")
	}
}

// IPv6 callers are grouped by /64: one host cannot get a fresh bucket per
// address.
func TestLimiterIPv6Prefix(t *testing.T) {
	l := limiterAt(newFakeClock(), RateLimit{PerSecond: 1, Burst: 1})
	if call(l, signedBy("", "[2001:db8:1:2::1]:1"), false) {
		t.Fatal("first request throttled")
	}
	if !call(l, signedBy("", "[2001:db8:1:2:ffff::9]:1"), false) {
		t.Fatal("another address of the same /64 got its own bucket")
	}
	if call(l, signedBy("", "[2001:db8:1:3::1]:1"), false) {
		t.Fatal("another /64 shares the bucket")
	}
	for addr, want := range map[string]string{
		"[2001:db8:1:2::1]:1": "2001:db8:1:2::/64", "192.0.2.1:80": "192.0.2.1",
		"[::ffff:192.0.2.1]:80": "192.0.2.1", "not-an-address": "not-an-address",
	} {
		r := signedBy("", addr)
		if got := addrKey(r); got != want {
			t.Errorf("addrKey(%s) = %q, want %q", addr, got, want)
		}
	}
}

// Peeking never allocates: requests naming ever new access keys or coming
// from ever new addresses cost no memory until they are charged, and
// charged buckets are bounded.
func TestLimiterBoundedMemory(t *testing.T) {
	clk := newFakeClock()
	l := limiterAt(clk, RateLimit{PerSecond: 1, Burst: 5, MaxBuckets: 100})
	for i := range 10000 {
		if l.admit(signedBy(fmt.Sprintf("AKID%08d", i), "192.0.2.1:1")) != nil {
			t.Fatal("admit refused an unknown key")
		}
	}
	if len(l.keys.m) != 0 || len(l.addrs.m) != 0 {
		t.Fatalf("admit created buckets: %d keys, %d addresses", len(l.keys.m), len(l.addrs.m))
	}
	for i := range 10000 {
		call(l, signedBy("", fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255)), false)
		call(l, signedBy(fmt.Sprintf("AKID%08d", i), "192.0.2.1:1"), true)
		if len(l.addrs.m) > 100 || len(l.keys.m) > 100 {
			t.Fatalf("after %d callers: %d address and %d key buckets, bound 100", i+1, len(l.addrs.m), len(l.keys.m))
		}
	}
	// Idle buckets (refilled, so equal to none) go first: a caller that is
	// spending keeps its bucket while idle ones are swept.
	l = limiterAt(clk, RateLimit{PerSecond: 1, Burst: 5, MaxBuckets: 100})
	for i := range 99 {
		call(l, signedBy(fmt.Sprintf("IDLE%04d", i), "192.0.2.1:1"), true)
	}
	clk.add(10 * time.Second) // every bucket refilled
	busy := signedBy("BUSY", "192.0.2.1:1")
	for range 5 {
		call(l, busy, true)
	}
	if !call(l, busy, true) {
		t.Fatal("busy caller not throttled after its burst")
	}
	call(l, signedBy("NEWCOMER", "192.0.2.1:1"), true) // table full: sweep
	if len(l.keys.m) != 2 {
		t.Fatalf("%d buckets after the sweep, want 2 (busy, newcomer)", len(l.keys.m))
	}
	if !call(l, busy, true) {
		t.Fatal("the sweep refilled a caller that was spending")
	}
}

func TestClaimedAccessKey(t *testing.T) {
	presigned := httptest.NewRequest(http.MethodPost, "/?X-Amz-Credential=AKIDQUERY%2F20240101%2Fus-east-1%2Fkms%2Faws4_request", nil)
	cases := map[string]string{
		"AWS4-HMAC-SHA256 Credential=AKIDA/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0": "AKIDA",
		"AWS4-HMAC-SHA256 Credential=/20240101/us-east-1/kms/aws4_request":                                       "",
		"AWS4-HMAC-SHA256 Credential=AKIDA":                                                                      "",
		"AWS4-HMAC-SHA256":                                                                                       "",
		"garbage":                                                                                                "",
		"Credential=" + strings.Repeat("A", 129) + "/x":                                                          "",
		"Credential=" + strings.Repeat("A", 128) + "/x":                                                          strings.Repeat("A", 128),
	}
	for auth, want := range cases {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Authorization", auth)
		if got := claimedAccessKey(r); got != want {
			t.Errorf("claimedAccessKey(%q) = %q, want %q", auth, got, want)
		}
	}
	if got := claimedAccessKey(presigned); got != "AKIDQUERY" {
		t.Errorf("presigned: %q", got)
	}
	if got := claimedAccessKey(httptest.NewRequest(http.MethodPost, "/", nil)); got != "" {
		t.Errorf("unsigned: %q", got)
	}
}

// FuzzClaimedAccessKey: whatever the Authorization header, the claimed
// name is a bounded prefix of it and never panics.
func FuzzClaimedAccessKey(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDA/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0", "192.0.2.1:1")
	f.Add("Credential=/", "[::1]:0")
	f.Add("Credential=Credential=a/b", "garbage")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, auth, addr string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header["Authorization"] = []string{auth}
		r.RemoteAddr = addr
		akid := claimedAccessKey(r)
		if len(akid) > 128 || (akid != "" && !strings.Contains(auth, "Credential="+akid+"/")) {
			t.Fatalf("claimedAccessKey(%q) = %q", auth, akid)
		}
		_ = addrKey(r)
		l := newLimiter(RateLimit{PerSecond: 1, Burst: 1})
		call(l, r, false)
		call(l, r, true)
	})
}

// BenchmarkLimiter is the cost a request pays with limiting on: admit and
// charge for one of 1000 identities, from parallel callers.
func BenchmarkLimiter(b *testing.B) {
	l := newLimiter(RateLimit{PerSecond: 1e9, Burst: 1e9})
	reqs := make([]*http.Request, 1000)
	for i := range reqs {
		reqs[i] = signedBy(fmt.Sprintf("AKID%016d", i), "192.0.2.1:1")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := reqs[i%len(reqs)]
			i++
			if call(l, r, true) {
				b.Fatal("throttled")
			}
		}
	})
}
