package crypto

import (
	"bytes"
	"testing"
)

func TestRandom(t *testing.T) {
	for _, n := range []int{0, 1, 32, 1000} {
		b, err := Random(n)
		if err != nil || len(b) != n || b == nil {
			t.Fatalf("Random(%d) = %d bytes, %v", n, len(b), err)
		}
	}
	a, _ := Random(32)
	b, _ := Random(32)
	if bytes.Equal(a, b) {
		t.Fatal("Random repeated 32 bytes")
	}
	if _, err := Random(-1); err == nil {
		t.Fatal("Random(-1) succeeded")
	}
}

func TestZero(t *testing.T) {
	b := seq(1, 40)
	Zero(b[:32])
	if !bytes.Equal(b[:32], make([]byte, 32)) || b[32] != 33 {
		t.Fatalf("Zero: %x", b)
	}
	Zero(nil)
}
