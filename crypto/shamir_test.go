package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// refTables builds GF(2^8) log/exp tables from the generator 3, as AES
// texts do: an implementation independent of gfMul to check it against.
func refTables() (exp [512]byte, log [256]byte) {
	x := byte(1)
	for i := range 255 {
		exp[i], exp[i+255] = x, x
		log[x] = byte(i)
		// x *= 3: x*2 (with reduction) xor x.
		hi := x & 0x80
		d := x << 1
		if hi != 0 {
			d ^= 0x1b
		}
		x ^= d
	}
	return exp, log
}

func refMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	exp, log := refTables()
	return exp[int(log[a])+int(log[b])]
}

func TestGFMul_KnownAnswers(t *testing.T) {
	// FIPS-197 §4.2 and §4.2.1.
	for _, tc := range []struct{ a, b, want byte }{
		{0x57, 0x83, 0xc1}, {0x57, 0x13, 0xfe}, {0x57, 0x02, 0xae}, {0x57, 0x04, 0x47},
		{0x57, 0x08, 0x8e}, {0x57, 0x10, 0x07}, {0x00, 0xff, 0x00}, {0x01, 0xab, 0xab},
	} {
		if got := gfMul(tc.a, tc.b); got != tc.want {
			t.Errorf("gfMul(%#x, %#x) = %#x, want %#x", tc.a, tc.b, got, tc.want)
		}
	}
	exp, log := refTables()
	for a := range 256 {
		for b := range 256 {
			want := byte(0)
			if a != 0 && b != 0 {
				want = exp[int(log[a])+int(log[b])]
			}
			if got := gfMul(byte(a), byte(b)); got != want {
				t.Fatalf("gfMul(%#x, %#x) = %#x, the tables say %#x", a, b, got, want)
			}
		}
	}
}

func TestGFInv(t *testing.T) {
	if got := gfInv(0x53); got != 0xca { // FIPS-197 §5.1.1
		t.Fatalf("gfInv(0x53) = %#x, want 0xca", got)
	}
	if gfInv(0) != 0 {
		t.Fatal("gfInv(0) must be 0")
	}
	for a := 1; a < 256; a++ {
		if p := gfMul(byte(a), gfInv(byte(a))); p != 1 {
			t.Fatalf("%#x * inv = %#x", a, p)
		}
	}
}

// fixedReader returns its bytes, then fails.
type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("fixed stream exhausted")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestSplit_KnownAnswer(t *testing.T) {
	// f(x) = 0x2a + 0x57·x: f(1) = 0x7d, f(2) = 0x2a^0xae, f(3) = 0x2a^0xae^0x57.
	shares, err := splitWith([]byte{0x2a}, 3, 2, &fixedReader{[]byte{0x57}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0102017d", "01020284", "010203d3"}
	for i, s := range shares {
		if hex.EncodeToString(s) != want[i] {
			t.Errorf("share %d = %x, want %s", i+1, s, want[i])
		}
	}
	// Two bytes, t = 3: f0(x) = 0x01 + 0x02x + 0x03x², f1(x) = 0xff + 0x10x + 0x20x².
	shares, err = splitWith([]byte{0x01, 0xff}, 4, 3, &fixedReader{[]byte{0x02, 0x03, 0x10, 0x20}})
	if err != nil {
		t.Fatal(err)
	}
	for j, s := range shares {
		x := byte(j + 1)
		y0 := 0x01 ^ refMul(0x02, x) ^ refMul(0x03, refMul(x, x))
		y1 := 0xff ^ refMul(0x10, x) ^ refMul(0x20, refMul(x, x))
		if want := []byte{1, 3, x, y0, y1}; !bytes.Equal(s, want) {
			t.Errorf("share %d = %x, want %x", x, s, want)
		}
	}
	got, err := Combine(shares[1:])
	if err != nil || !bytes.Equal(got, []byte{0x01, 0xff}) {
		t.Fatalf("Combine = %x, %v", got, err)
	}
}

// subsets calls fn with every subset of 0..n-1 (as index lists).
func subsets(n int, fn func([]int)) {
	for mask := 0; mask < 1<<n; mask++ {
		var idx []int
		for i := range n {
			if mask&(1<<i) != 0 {
				idx = append(idx, i)
			}
		}
		fn(idx)
	}
}

func TestCombine_EveryThresholdSubset(t *testing.T) {
	secret := seq(0x40, 32)
	for _, p := range []struct{ n, th int }{{2, 2}, {3, 2}, {5, 3}, {6, 6}, {7, 4}} {
		shares, err := Split(secret, p.n, p.th)
		if err != nil {
			t.Fatal(err)
		}
		if len(shares) != p.n {
			t.Fatalf("%d shares, want %d", len(shares), p.n)
		}
		subsets(p.n, func(idx []int) {
			pick := make([][]byte, 0, len(idx))
			for i := len(idx) - 1; i >= 0; i-- { // reverse order: order must not matter
				pick = append(pick, shares[idx[i]])
			}
			got, err := Combine(pick)
			switch {
			case len(idx) >= p.th && (err != nil || !bytes.Equal(got, secret)):
				t.Fatalf("%d-of-%d, shares %v: %x, %v", p.th, p.n, idx, got, err)
			case len(idx) < p.th && !errors.Is(err, ErrShare):
				t.Fatalf("%d-of-%d, shares %v: want ErrShare, got %x, %v", p.th, p.n, idx, got, err)
			}
		})
	}
}

// Fewer than threshold shares, even with their threshold byte lowered so
// that Combine accepts them, interpolate a different polynomial: they do
// not reproduce the secret.
func TestCombine_FewerThanThresholdDoNotRebuild(t *testing.T) {
	secret := seq(0x10, 32)
	for range 20 {
		shares, err := Split(secret, 5, 3)
		if err != nil {
			t.Fatal(err)
		}
		forged := make([][]byte, 2)
		for i := range forged {
			forged[i] = append([]byte(nil), shares[i+2]...)
			forged[i][1] = 2
		}
		got, err := Combine(forged)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(got, secret) {
			t.Fatal("two shares of a 3-of-5 set rebuilt the secret")
		}
	}
}

func TestSplit_SharesDiffer(t *testing.T) {
	secret := seq(0, 32)
	a, _ := Split(secret, 3, 2)
	b, _ := Split(secret, 3, 2)
	for i := range a {
		if bytes.Equal(a[i], b[i]) {
			t.Fatalf("two splits gave the same share %d: the coefficients are not random", i+1)
		}
		if bytes.Contains(a[i], secret[:8]) {
			t.Fatalf("share %d carries the secret in clear", i+1)
		}
	}
}

func TestSplit_BadParameters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		n, t   int
	}{
		{"empty secret", nil, 3, 2},
		{"threshold 1", seq(0, 32), 3, 1},
		{"threshold 0", seq(0, 32), 3, 0},
		{"fewer shares than threshold", seq(0, 32), 2, 3},
		{"256 shares", seq(0, 32), 256, 3},
		{"negative", seq(0, 32), -1, -2},
	} {
		if s, err := Split(tc.secret, tc.n, tc.t); err == nil {
			t.Errorf("%s: Split gave %d shares", tc.name, len(s))
		}
	}
	if s, err := Split(seq(0, 32), 255, 255); err != nil || len(s) != 255 {
		t.Fatalf("255-of-255: %d shares, %v", len(s), err)
	}
}

func TestCombine_Rejects(t *testing.T) {
	shares, err := Split(seq(0x70, 32), 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Split(seq(0x70, 32), 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	short, err := Split(seq(0x70, 16), 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(s []byte, i int, v byte) []byte {
		c := append([]byte(nil), s...)
		c[i] = v
		return c
	}
	for _, tc := range []struct {
		name   string
		shares [][]byte
	}{
		{"none", nil},
		{"duplicate", [][]byte{shares[0], shares[1], shares[0]}},
		{"same x, different y", [][]byte{shares[0], shares[1], mod(shares[0], 5, shares[0][5]^1)}},
		{"different thresholds", [][]byte{shares[0], shares[1], other[2]}},
		{"different lengths", [][]byte{shares[0], shares[1], short[2]}},
		{"unknown version", [][]byte{shares[0], shares[1], mod(shares[2], 0, 2)}},
		{"x zero", [][]byte{shares[0], shares[1], mod(shares[2], 2, 0)}},
		{"threshold byte 1", [][]byte{mod(shares[0], 1, 1), mod(shares[1], 1, 1)}},
		{"header only", [][]byte{shares[0][:3], shares[1][:3], shares[2][:3]}},
		{"too few", shares[:2]},
	} {
		if got, err := Combine(tc.shares); !errors.Is(err, ErrShare) {
			t.Errorf("%s: want ErrShare, got %x, %v", tc.name, got, err)
		}
	}
}

func TestCheckShare(t *testing.T) {
	shares, _ := Split(seq(1, 32), 4, 3)
	th, x, err := CheckShare(shares[3], 32)
	if err != nil || th != 3 || x != 4 {
		t.Fatalf("CheckShare = %d, %d, %v", th, x, err)
	}
	if _, _, err := CheckShare(shares[3], 31); !errors.Is(err, ErrShare) {
		t.Fatalf("wrong length accepted: %v", err)
	}
}

func FuzzCombine(f *testing.F) {
	shares, _ := splitWith(seq(0x30, 4), 3, 2, &fixedReader{seq(9, 4)})
	f.Add(uint8(2), bytes.Join(shares, nil))
	f.Add(uint8(3), bytes.Join(shares, nil))
	f.Add(uint8(1), []byte{1, 2, 1, 0})
	f.Add(uint8(2), []byte{1, 2, 1, 7, 1, 2, 1, 7})
	f.Add(uint8(0), []byte{})
	f.Fuzz(func(t *testing.T, count uint8, blob []byte) {
		// Cut blob into count equal shares (the remainder is dropped).
		n := int(count%8) + 1
		size := len(blob) / n
		var in [][]byte
		for i := range n {
			in = append(in, blob[i*size:(i+1)*size])
		}
		got, err := Combine(in)
		if err != nil {
			if !errors.Is(err, ErrShare) {
				t.Fatalf("error without ErrShare: %v", err)
			}
			return
		}
		// Accepted: the contract's preconditions must hold.
		th := int(in[0][1])
		if len(in) < th || len(got) != size-ShareOverhead {
			t.Fatalf("accepted %d shares of threshold %d, secret of %d bytes", len(in), th, len(got))
		}
		xs := map[byte]bool{}
		for _, s := range in {
			if s[0] != shareVersion || s[1] != in[0][1] || s[2] == 0 || xs[s[2]] {
				t.Fatalf("accepted an invalid set: %x", in)
			}
			xs[s[2]] = true
		}
		// Re-splitting the result and combining any threshold of the new
		// shares gives it back.
		if th >= 2 && th <= len(in) {
			again, err := Split(got, th, th)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Combine(again)
			if err != nil || !bytes.Equal(back, got) {
				t.Fatalf("round trip: %x, %v", back, err)
			}
		}
	})
}

func BenchmarkSplit5of3(b *testing.B) {
	secret := seq(1, 32)
	for b.Loop() {
		if _, err := Split(secret, 5, 3); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombine3(b *testing.B) {
	shares, _ := Split(seq(1, 32), 5, 3)
	for b.Loop() {
		if _, err := Combine(shares[:3]); err != nil {
			b.Fatal(err)
		}
	}
}
