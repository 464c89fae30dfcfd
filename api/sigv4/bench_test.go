package sigv4

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// benchRequest signs a KMS Encrypt-shaped request as the server sees it.
func benchSetup(b *testing.B, cacheSize int) (*Verifier, func() error) {
	body := []byte(encryptBody)
	r := serverRequest(b, "/", body)
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7 ua/2.1 os/linux lang/go#1.26 md/GOOS#linux api/kms#1.62.4 m/E")
	r.Header.Set("Amz-Sdk-Invocation-Id", "7c1f7e1a-3d2b-4b8e-9a43-0c4c4f1d1d2e")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	r.Header.Set("Accept-Encoding", "identity")
	sign(b, r, body)
	v := newTestVerifier(signTime.Add(time.Minute), func(o *Options) { o.KeyCacheSize = cacheSize })
	verify := func() error { _, err := v.Verify(r, body); return err }
	if err := verify(); err != nil { // also warms the cache
		b.Fatal(err)
	}
	return v, verify
}

// BenchmarkVerify measures the hot path: a KMS Encrypt request whose signing
// key is cached.
func BenchmarkVerify(b *testing.B) {
	_, verify := benchSetup(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel is BenchmarkVerify from GOMAXPROCS goroutines.
func BenchmarkVerifyParallel(b *testing.B) {
	_, verify := benchSetup(b, 0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := verify(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyColdKey measures a verification whose signing key is not
// cached: requests cycle through 1024 credential scopes (regions) while the
// cache holds 64, so every call computes the cache key, misses, derives the
// key, verifies and inserts (evicting an entry).
func BenchmarkVerifyColdKey(b *testing.B) {
	body := []byte(encryptBody)
	reqs := make([]*http.Request, 1024)
	for i := range reqs {
		r := serverRequest(b, "/", body)
		o := defaultSignOpts()
		o.region = "region-" + strconv.Itoa(i)
		signWith(b, r, body, o)
		reqs[i] = r
	}
	v := newTestVerifier(signTime.Add(time.Minute), func(o *Options) { o.KeyCacheSize = 64; o.Region = "" })
	for _, r := range reqs[:128] { // fill the cache
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := v.Verify(reqs[i%len(reqs)], body); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVerifyMismatch measures rejecting a forged signature for a known
// key, the cost an attacker can impose per request.
func BenchmarkVerifyMismatch(b *testing.B) {
	v, _ := benchSetup(b, 0)
	body := []byte(encryptBody)
	r := serverRequest(b, "/", body)
	sign(b, r, body)
	forged := []byte(`{"KeyId":"alias/app","Plaintext":"Zm9yZ2Vk"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(r, forged); err == nil {
			b.Fatal("forged request verified")
		}
	}
}
