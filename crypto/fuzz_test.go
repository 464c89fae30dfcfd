package crypto

import (
	"bytes"
	"encoding/binary"
	"maps"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Native fuzz targets. None of them may panic; each also checks the
// function against an independent statement of its contract. Run one with
//
//	go test -run XXX -fuzz FuzzDecrypt -fuzztime 30s ./crypto/

// fuzzContext builds an encryption context of up to two pairs.
func fuzzContext(n uint8, k1, v1, k2, v2 string) map[string]string {
	switch n % 4 {
	case 0:
		return nil
	case 1:
		return map[string]string{k1: v1}
	case 2:
		return map[string]string{k1: v1, k2: v2}
	default:
		return map[string]string{}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1}, Overhead))
	for _, tc := range blobKATs {
		f.Add(mustHex(f, tc.blob))
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		h, err := ParseHeader(blob)
		valid := len(blob) >= Overhead && blob[0] == 1 && blob[1] == 1 && (blob[2] == 1 || blob[2] == 2)
		if err != nil {
			if err != ErrInvalidCiphertext || valid {
				t.Fatalf("ParseHeader(%x) = %v", blob, err)
			}
			return
		}
		if !valid {
			t.Fatalf("ParseHeader accepted %x", blob)
		}
		if h.Ref.Type != blob[2] || !bytes.Equal(h.Ref.ID[:], blob[3:19]) || h.Version != binary.BigEndian.Uint32(blob[19:23]) {
			t.Fatalf("ParseHeader(%x) = %+v", blob, h)
		}
		if _, err := ParseKeyID(h.Ref.String()); err != nil {
			t.Fatalf("header key ref %v does not parse back: %v", h.Ref, err)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	material := seq(0, KeySize)
	h := Header{Ref: KeyRef{Type: RefTypeUUID, ID: [16]byte{1, 2, 3}}, Version: 1}
	for _, seed := range []struct {
		pt             string
		n              uint8
		k1, v1, k2, v2 string
	}{
		{"", 0, "", "", "", ""},
		{"hello", 1, "tenant", "acme", "", ""},
		{"hello world, a longer plaintext", 2, "ab", "c", "a", "bc"},
		{"x", 3, "", "", "", ""},
	} {
		ec := fuzzContext(seed.n, seed.k1, seed.v1, seed.k2, seed.v2)
		blob := mustEncrypt(f, material, h, []byte(seed.pt), ec)
		f.Add(blob, seed.n, seed.k1, seed.v1, seed.k2, seed.v2)
		f.Add(blob[:len(blob)-1], seed.n, seed.k1, seed.v1, seed.k2, seed.v2)
	}
	f.Add(mustHex(f, blobKATs[0].blob), uint8(2), "tenant", "acme", "purpose", "kat")
	f.Fuzz(func(t *testing.T, blob []byte, n uint8, k1, v1, k2, v2 string) {
		ec := fuzzContext(n, k1, v1, k2, v2)
		pt, err := Decrypt(material, blob, ec)
		if err != nil {
			if err != ErrInvalidCiphertext || pt != nil {
				t.Fatalf("Decrypt = %x, %v", pt, err)
			}
		} else {
			if _, err := ParseHeader(blob); err != nil {
				t.Fatalf("Decrypt accepted a blob ParseHeader rejects: %x", blob)
			}
			if len(pt) != len(blob)-Overhead {
				t.Fatalf("Decrypt returned %d bytes from a %d-byte blob", len(pt), len(blob))
			}
		}

		// Round trip with the fuzzed bytes as plaintext and the same context.
		enc, err := Encrypt(material, h, blob, ec)
		if _, cerr := CanonicalContext(ec); (err != nil) != (cerr != nil) {
			t.Fatalf("Encrypt err %v, CanonicalContext err %v", err, cerr)
		}
		if err != nil {
			return
		}
		got, err := Decrypt(material, enc, ec)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("round trip: %x, %v", got, err)
		}
	})
}

func FuzzCanonicalContext(f *testing.F) {
	f.Add(uint8(0), "", "", "", "")
	f.Add(uint8(1), "ab", "c", "", "")
	f.Add(uint8(2), "a", "bc", "ab", "c")
	f.Add(uint8(2), "é", "\xff", "z", "")
	f.Add(uint8(2), "k", strings.Repeat("v", 64), "\x00", "")
	f.Fuzz(func(t *testing.T, n uint8, k1, v1, k2, v2 string) {
		ec := fuzzContext(n, k1, v1, k2, v2)
		enc, err := CanonicalContext(ec)

		size, utf8OK := 0, true
		if len(ec) > 0 {
			size = 2
		}
		for k, v := range ec {
			size += 4 + len(k) + len(v)
			utf8OK = utf8OK && utf8.ValidString(k) && utf8.ValidString(v)
		}
		if valid := utf8OK && size <= MaxContextBytes; valid != (err == nil) {
			t.Fatalf("CanonicalContext(%q) = %v, want valid=%v", ec, err, valid)
		}
		if err != nil {
			if enc != nil || !strings.HasPrefix(err.Error(), ErrInvalidContext.Error()) {
				t.Fatalf("error %v with %d bytes", err, len(enc))
			}
			return
		}
		if len(enc) != size || !bytes.Equal(enc, refContext(ec)) {
			t.Fatalf("CanonicalContext(%q) = %x, reference %x", ec, enc, refContext(ec))
		}
		if back := decodeContext(t, enc); !maps.Equal(back, ec) && len(ec) > 0 {
			t.Fatalf("decoded %q, want %q", back, ec)
		}
	})
}

// decodeContext parses a canonical context strictly (test side only).
func decodeContext(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	if len(b) == 0 {
		return m
	}
	field := func() string {
		if len(b) < 2 {
			t.Fatalf("truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("truncated field")
		}
		s := string(b[2 : 2+n])
		b = b[2+n:]
		return s
	}
	count := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	prev := ""
	for i := range count {
		k, v := field(), field()
		if i > 0 && k <= prev {
			t.Fatalf("keys not strictly ascending: %q after %q", k, prev)
		}
		prev = k
		m[k] = v
	}
	if len(b) != 0 {
		t.Fatalf("%d trailing bytes", len(b))
	}
	return m
}

func FuzzOpenMaterial(f *testing.F) {
	k := newTestKeyring(f)
	f.Add(mustHex(f, sealKAT), testSealAAD.Region, testSealAAD.KeyID, testSealAAD.Version, testSealAAD.Purpose)
	f.Add(mustSeal(f, k, nil, SealAAD{}), "", "", uint32(0), "")
	f.Add([]byte{0, 0, 0, 1}, "r", "k", uint32(1), "p")
	f.Fuzz(func(t *testing.T, sealed []byte, region, keyID string, version uint32, purpose string) {
		aad := SealAAD{Region: region, KeyID: keyID, Version: version, Purpose: purpose}
		m, err := k.OpenMaterial(sealed, aad)
		if err != nil {
			if err != ErrUnseal || m != nil {
				t.Fatalf("OpenMaterial = %x, %v", m, err)
			}
		} else if len(m) != len(sealed)-sealedOverhead {
			t.Fatalf("OpenMaterial returned %d bytes from %d", len(m), len(sealed))
		}

		s, err := k.SealMaterial(sealed, aad)
		if err != nil {
			t.Fatalf("SealMaterial: %v", err)
		}
		if got, err := k.OpenMaterial(s, aad); err != nil || !bytes.Equal(got, sealed) {
			t.Fatalf("round trip: %x, %v", got, err)
		}
	})
}

var keyIDPattern = regexp.MustCompile(`^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})$`)

func FuzzParseKeyID(f *testing.F) {
	f.Add(testUUID)
	f.Add(strings.ToUpper(testUUID))
	f.Add("mrk-0123456789abcdef0123456789abcdef")
	f.Add("alias/x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseKeyID(s)
		if valid := keyIDPattern.MatchString(s); valid != (err == nil) {
			t.Fatalf("ParseKeyID(%q) = %v, pattern says %v", s, err, valid)
		}
		if err != nil {
			if err != ErrInvalidKeyID || r != (KeyRef{}) {
				t.Fatalf("ParseKeyID(%q) = %v, %v", s, r, err)
			}
			return
		}
		if canon := r.String(); canon != strings.ToLower(s) {
			t.Fatalf("String() = %q for %q", canon, s)
		}
		if r2, err := ParseKeyID(r.String()); err != nil || r2 != r {
			t.Fatalf("canonical form does not round trip: %v, %v", r2, err)
		}
	})
}
