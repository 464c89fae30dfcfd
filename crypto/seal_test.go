package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// Pinned formats of the at-rest seals; see blobKATs.
const (
	wrapKAT = "505152535455565758595a5b" +
		"71616ad1f5eab1cafcc6c0d1a1c44d600c3d9decac23afd77a2502816cd7fee6" +
		"534684aa90acc06162ba033754ac238f"
	rootCheckKAT = "f0b3a84e4ec5089537c4e1ab8ce546b0"
)

func TestWrap_KnownAnswer(t *testing.T) {
	kek, rrk, aad := seq(0x20, 32), seq(0xc0, 32), []byte("kmsnode/rrk/file")
	got, err := wrapWith(kek, rrk, aad, seq(0x50, 12))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != wrapKAT {
		t.Fatalf("Wrap drifted: %x", got)
	}
	pt, err := Unwrap(kek, mustHex(t, wrapKAT), aad)
	if err != nil || !bytes.Equal(pt, rrk) {
		t.Fatalf("Unwrap = %x, %v", pt, err)
	}
	if c := RootCheck(rrk); hex.EncodeToString(c) != rootCheckKAT {
		t.Fatalf("RootCheck = %x", c)
	}
}

func TestWrap_RoundTrip(t *testing.T) {
	kek := seq(1, 32)
	for _, pt := range [][]byte{nil, {}, seq(9, 32), seq(9, 1000)} {
		w, err := Wrap(kek, pt, []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if len(w) != len(pt)+28 {
			t.Fatalf("len = %d", len(w))
		}
		got, err := Unwrap(kek, w, []byte("aad"))
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Unwrap = %x, %v", got, err)
		}
	}
	a, _ := Wrap(kek, seq(9, 32), nil)
	b, _ := Wrap(kek, seq(9, 32), nil)
	if bytes.Equal(a, b) {
		t.Fatal("Wrap is deterministic")
	}
}

func TestUnwrap_Failures(t *testing.T) {
	kek := seq(1, 32)
	w, err := Wrap(kek, seq(9, 32), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	wrongKEK := bytes.Clone(kek)
	wrongKEK[0] ^= 1
	if _, err := Unwrap(wrongKEK, w, []byte("aad")); err != ErrUnseal {
		t.Errorf("wrong kek: %v", err)
	}
	if _, err := Unwrap(kek, w, []byte("aae")); err != ErrUnseal {
		t.Errorf("wrong aad: %v", err)
	}
	if _, err := Unwrap(kek, w, nil); err != ErrUnseal {
		t.Errorf("missing aad: %v", err)
	}
	for i := range w {
		b := bytes.Clone(w)
		b[i] ^= 0x40
		if _, err := Unwrap(kek, b, []byte("aad")); err != ErrUnseal {
			t.Fatalf("byte %d tampered: %v", i, err)
		}
	}
	for n := range w {
		if _, err := Unwrap(kek, w[:n], []byte("aad")); err != ErrUnseal {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := Unwrap(kek[:16], w, []byte("aad")); !errors.Is(err, ErrUnseal) {
		t.Errorf("16-byte kek: %v", err)
	}
	if _, err := Wrap(kek[:16], nil, nil); err == nil {
		t.Error("Wrap accepted a 16-byte kek")
	}
}

func TestRootCheck(t *testing.T) {
	rrk := seq(7, 32)
	c := RootCheck(rrk)
	if len(c) != 16 || cap(c) != 16 {
		t.Fatalf("len %d cap %d", len(c), cap(c))
	}
	if !VerifyRootCheck(rrk, c) {
		t.Fatal("VerifyRootCheck rejects its own value")
	}
	other := bytes.Clone(rrk)
	other[5] ^= 1
	if VerifyRootCheck(other, c) || VerifyRootCheck(rrk, c[:15]) || VerifyRootCheck(rrk, nil) {
		t.Fatal("VerifyRootCheck accepts a wrong key or value")
	}
}

func TestSealAAD_Encoding(t *testing.T) {
	a := SealAAD{Region: "eu", KeyID: "k", Version: 0x01020304, Purpose: "p"}
	want := "kmsnode/seal/v1" +
		"\x00\x00\x00\x02eu" + "\x00\x00\x00\x01k" + "\x01\x02\x03\x04" + "\x00\x00\x00\x01p"
	got := appendSealAAD(nil, a)
	if string(got) != want {
		t.Fatalf("got %q", got)
	}
	if n, err := sealAADLen(a); err != nil || n != len(want) {
		t.Fatalf("sealAADLen = %d, %v", n, err)
	}
}
