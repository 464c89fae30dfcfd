package sigv4

import (
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// defaultCacheSize bounds the derived-key cache. One entry serves one
// (secret, date, region, service) tuple for a UTC day, so a few thousand
// entries cover far more active keys than a node will see.
const defaultCacheSize = 1024

// signingKey is a derived SigV4 signing key (kSigning). It is secret
// material: it formats as "[REDACTED]" with every fmt verb.
type signingKey [sha256.Size]byte

func (signingKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// cacheKey identifies a signing key: SHA-256 over the length-prefixed
// secret, scope date, region and service. The secret is never stored, only
// this one-way digest of it together with public scope values.
type cacheKey [sha256.Size]byte

func (cacheKey) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

const redacted = "[REDACTED]"

// keyCache is a bounded, concurrency-safe map from cacheKey to signingKey.
// When full, inserting evicts an arbitrary entry (Go map iteration order is
// randomised), which is adequate because entries age out daily anyway.
// Only keys that verified a signature are inserted, so requests carrying a
// valid access key ID but a forged scope cannot churn the cache.
type keyCache struct {
	mu  sync.RWMutex
	m   map[cacheKey]signingKey
	max int
}

func newKeyCache(size int) *keyCache {
	if size < 0 {
		return nil // caching disabled
	}
	if size == 0 {
		size = defaultCacheSize
	}
	return &keyCache{m: make(map[cacheKey]signingKey, size), max: size}
}

// Format prints only the size of the cache, never its keys.
func (c *keyCache) Format(f fmt.State, _ rune) {
	io.WriteString(f, "sigv4.keyCache{len: "+strconv.Itoa(c.len())+"}")
}

func (c *keyCache) get(k *cacheKey) (signingKey, bool) {
	if c == nil {
		return signingKey{}, false
	}
	c.mu.RLock()
	v, ok := c.m[*k]
	c.mu.RUnlock()
	return v, ok
}

func (c *keyCache) put(k *cacheKey, v *signingKey) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if _, ok := c.m[*k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[*k] = *v
	c.mu.Unlock()
}

func (c *keyCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// appendLenPrefixed appends a 4-byte big-endian length and then s.
func appendLenPrefixed(b []byte, s string) []byte {
	n := len(s)
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, s...)
}

// cacheKeyFor computes the cache key of (secret, date, region, service)
// using s.hbuf as scratch.
func (s *scratch) cacheKeyFor(secret, date, region, service string) cacheKey {
	b := s.hbuf[:0]
	b = appendLenPrefixed(b, secret)
	b = appendLenPrefixed(b, date)
	b = appendLenPrefixed(b, region)
	b = appendLenPrefixed(b, service)
	k := cacheKey(sha256.Sum256(b))
	clear(b)
	s.hbuf = b[:0]
	return k
}

// deriveKey computes the SigV4 signing key:
//
//	kDate    = HMAC("AWS4" + secret, date)
//	kRegion  = HMAC(kDate, region)
//	kService = HMAC(kRegion, service)
//	kSigning = HMAC(kService, "aws4_request")
func (s *scratch) deriveKey(secret, date, region, service string) signingKey {
	kb := append(s.kbuf[:0], "AWS4"...)
	kb = append(kb, secret...)
	k := hmacSHA256(&s.hbuf, kb, date)
	clear(kb)
	s.kbuf = kb[:0]
	k = hmacSHA256(&s.hbuf, k[:], region)
	k = hmacSHA256(&s.hbuf, k[:], service)
	k = hmacSHA256(&s.hbuf, k[:], terminator)
	return signingKey(k)
}

// hmacSHA256 returns HMAC-SHA256(key, msg) without allocating: the padded
// key and the message are laid out in *buf (scratch, cleared afterwards) and
// hashed with sha256.Sum256.
func hmacSHA256[M string | []byte](buf *[]byte, key []byte, msg M) [sha256.Size]byte {
	var k [sha256.BlockSize]byte
	if len(key) > sha256.BlockSize {
		d := sha256.Sum256(key)
		copy(k[:], d[:])
	} else {
		copy(k[:], key)
	}
	b := (*buf)[:0]
	for _, c := range k {
		b = append(b, c^0x36)
	}
	b = append(b, msg...)
	inner := sha256.Sum256(b)
	b = b[:0]
	for _, c := range k {
		b = append(b, c^0x5c)
	}
	b = append(b, inner[:]...)
	out := sha256.Sum256(b)
	clear(b)
	clear(k[:])
	*buf = b[:0]
	return out
}
