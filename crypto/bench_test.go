package crypto

import "testing"

// Benchmarks for the per-request paths. Compare runs with benchstat:
//
//	go test -run XXX -bench . -count 10 ./crypto/ > new.txt

var benchContext = map[string]string{"tenant": "acme", "purpose": "bench"}

func benchEncrypt(b *testing.B, size int) {
	material, h, pt := seq(1, KeySize), testHeader(b), make([]byte, size)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encrypt(material, h, pt, benchContext); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt32(b *testing.B) { benchEncrypt(b, 32) }
func BenchmarkEncrypt4K(b *testing.B) { benchEncrypt(b, 4096) }

func BenchmarkDecrypt32(b *testing.B) {
	material := seq(1, KeySize)
	blob := mustEncrypt(b, material, testHeader(b), make([]byte, 32), benchContext)
	b.SetBytes(32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decrypt(material, blob, benchContext); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCanonicalContext(b *testing.B) {
	ec := map[string]string{"tenant": "acme", "purpose": "bench", "aws:s3:arn": "arn:aws:s3:::bucket/key"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CanonicalContext(ec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHeader(b *testing.B) {
	blob := mustEncrypt(b, seq(1, KeySize), testHeader(b), make([]byte, 32), nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealMaterial(b *testing.B) {
	k := newTestKeyring(b)
	material := seq(9, KeySize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SealMaterial(material, testSealAAD); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenMaterial(b *testing.B) {
	k := newTestKeyring(b)
	sealed := mustSeal(b, k, seq(9, KeySize), testSealAAD)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.OpenMaterial(sealed, testSealAAD); err != nil {
			b.Fatal(err)
		}
	}
}
