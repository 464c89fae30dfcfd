package crypto

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Shamir's secret sharing over GF(2^8) (design-notes §5.2, the shamir
// unseal provider). Each byte of the secret is the constant term of its own
// random polynomial of degree threshold-1; share x holds the polynomials'
// values at x. Any threshold shares rebuild the secret by Lagrange
// interpolation at 0; fewer reveal nothing about it.
//
// Share format v1, as handed to operators (base64 by the callers):
//
//	version(1) = 0x01 ‖ threshold(1) ‖ x(1) ‖ y(len(secret))
//
// The threshold travels in every share so that Combine can refuse too few
// shares instead of silently returning a wrong secret. x runs 1..n.
//
// The field is GF(2^8) with AES's polynomial x^8+x^4+x^3+x+1. Multiplication
// is the bit-by-bit ("Russian peasant") form with masks instead of branches,
// and inversion a fixed square-and-multiply chain: no table lookups or
// branches indexed by secret bytes, whose timing could leak them.

const (
	shareVersion = 1
	// ShareOverhead is the length of a share's header; a share is this
	// much longer than the secret.
	ShareOverhead = 3
	// MaxShares is the largest number of shares (x is one non-zero byte).
	MaxShares = 255
)

// ErrShare is returned by [Split], [Combine] and [CheckShare] for a share
// set that cannot be used; the wrapped message says why.
var ErrShare = errors.New("crypto: invalid Shamir share")

func shareErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrShare}, args...)...)
}

// Split divides secret into n shares of which any t rebuild it, with
// 2 <= t <= n <= 255. The caller owns the shares and should [Zero] them.
func Split(secret []byte, n, t int) ([][]byte, error) {
	return splitWith(secret, n, t, rand.Reader)
}

// splitWith is Split with the polynomial coefficients read from r. Only
// tests pass a fixed stream.
func splitWith(secret []byte, n, t int, r io.Reader) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("crypto: Shamir split of an empty secret")
	case t < 2:
		return nil, fmt.Errorf("crypto: Shamir threshold %d: it must be at least 2", t)
	case n < t:
		return nil, fmt.Errorf("crypto: Shamir shares %d: fewer than the threshold %d", n, t)
	case n > MaxShares:
		return nil, fmt.Errorf("crypto: Shamir shares %d: at most %d", n, MaxShares)
	}
	// coeffs[i*(t-1)+k] is the coefficient of x^(k+1) for secret byte i.
	coeffs := make([]byte, len(secret)*(t-1))
	defer Zero(coeffs)
	if _, err := io.ReadFull(r, coeffs); err != nil {
		return nil, fmt.Errorf("crypto: Shamir split: %w", err)
	}
	shares := make([][]byte, n)
	for j := range shares {
		x := byte(j + 1)
		s := make([]byte, ShareOverhead+len(secret))
		s[0], s[1], s[2] = shareVersion, byte(t), x
		for i, c0 := range secret {
			// Horner's rule from the highest coefficient down.
			cs := coeffs[i*(t-1) : (i+1)*(t-1)]
			var y byte
			for k := len(cs) - 1; k >= 0; k-- {
				y = gfMul(y, x) ^ cs[k]
			}
			s[ShareOverhead+i] = gfMul(y, x) ^ c0
		}
		shares[j] = s
	}
	return shares, nil
}

// CheckShare validates one share's format and returns its threshold and x
// coordinate. secretLen, when positive, is the secret length the share must
// carry.
func CheckShare(share []byte, secretLen int) (threshold, x int, err error) {
	switch {
	case len(share) <= ShareOverhead:
		return 0, 0, shareErr("too short")
	case share[0] != shareVersion:
		return 0, 0, shareErr("unknown format %d", share[0])
	case share[1] < 2:
		return 0, 0, shareErr("threshold %d", share[1])
	case share[2] == 0:
		return 0, 0, shareErr("x coordinate 0")
	case secretLen > 0 && len(share) != ShareOverhead+secretLen:
		return 0, 0, shareErr("length %d, want %d", len(share), ShareOverhead+secretLen)
	}
	return int(share[1]), int(share[2]), nil
}

// Combine rebuilds the secret from at least threshold shares of one set.
// Shares of different lengths, formats or thresholds, a repeated x
// coordinate, or fewer shares than the threshold are refused with
// [ErrShare]. Shares that are well-formed but do not belong together yield a
// wrong secret, which the caller detects (the root key check). The caller
// owns the result and should [Zero] it.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, shareErr("no shares")
	}
	threshold, _, err := CheckShare(shares[0], 0)
	if err != nil {
		return nil, err
	}
	size := len(shares[0])
	var seen [256]bool
	xs := make([]byte, len(shares))
	for j, s := range shares {
		t, x, err := CheckShare(s, size-ShareOverhead)
		if err != nil {
			return nil, err
		}
		if t != threshold {
			return nil, shareErr("shares of different sets (thresholds %d and %d)", threshold, t)
		}
		if seen[x] {
			return nil, shareErr("share %d given twice", x)
		}
		seen[x] = true
		xs[j] = byte(x)
	}
	if len(shares) < threshold {
		return nil, shareErr("%d shares, the threshold is %d", len(shares), threshold)
	}
	// Lagrange basis at 0: l_j = Π_{m≠j} x_m / (x_m - x_j); in GF(2^8)
	// subtraction is XOR. The x coordinates are public; the basis is
	// computed once and applied to every byte.
	basis := make([]byte, len(xs))
	for j, xj := range xs {
		num, den := byte(1), byte(1)
		for m, xm := range xs {
			if m == j {
				continue
			}
			num = gfMul(num, xm)
			den = gfMul(den, xm^xj)
		}
		basis[j] = gfMul(num, gfInv(den))
	}
	secret := make([]byte, size-ShareOverhead)
	for i := range secret {
		var v byte
		for j, s := range shares {
			v ^= gfMul(basis[j], s[ShareOverhead+i])
		}
		secret[i] = v
	}
	return secret, nil
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 in constant time: eight
// rounds, each adding a (masked by the low bit of b) and doubling a (reduced
// by a mask of its high bit).
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		a = a<<1 ^ 0x1b&-(a>>7)
		b >>= 1
	}
	return p
}

// gfInv returns a^254, the inverse of a non-zero a (and 0 for 0), by a
// fixed chain of squarings and multiplications: 254 = 2+4+…+128.
func gfInv(a byte) byte {
	r, b := byte(1), a
	for range 7 {
		b = gfMul(b, b)
		r = gfMul(r, b)
	}
	return r
}
