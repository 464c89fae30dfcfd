package crypto

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxContextBytes caps the size of a canonical encryption context encoding
// (see [CanonicalContext]).
const MaxContextBytes = 8192

// maxField is the largest key or value a uint16 length prefix can describe.
const maxField = 0xFFFF

// ctxScratch is how many context pairs are sorted on the stack before a
// heap slice is needed. Real encryption contexts have a handful of pairs.
const ctxScratch = 8

// ctxPair is one encryption context entry.
type ctxPair struct{ k, v string }

// CanonicalContext encodes an encryption context the way the AWS Encryption
// SDK serialises it, so that it can be bound as additional authenticated
// data:
//
//	count uint16 BE
//	repeated, sorted ascending by key bytes:
//	    keyLen uint16 BE ‖ key ‖ valueLen uint16 BE ‖ value
//
// A nil or empty map encodes to zero bytes (an empty, non-nil slice). Because
// every field is length-prefixed, {"ab": "c"} and {"a": "bc"} encode
// differently. Keys and values must be valid UTF-8 and at most 65535 bytes,
// and the encoding at most [MaxContextBytes]; otherwise the error wraps
// [ErrInvalidContext]. Rejecting duplicate keys in a JSON request is the
// caller's job: a map cannot hold them.
func CanonicalContext(ec map[string]string) ([]byte, error) {
	var scratch [ctxScratch]ctxPair
	pairs, size, err := sortContext(ec, scratch[:0])
	if err != nil {
		return nil, err
	}
	return appendContext(make([]byte, 0, size), pairs), nil
}

// sortContext validates ec and returns its pairs sorted by key, appended to
// scratch, together with the size of their canonical encoding (0 for an
// empty context).
func sortContext(ec map[string]string, scratch []ctxPair) ([]ctxPair, int, error) {
	if len(ec) == 0 {
		return scratch[:0], 0, nil
	}
	// A pair takes at least 4 bytes, so a map with more pairs than this
	// cannot fit; checking first bounds the work and the count field.
	if len(ec) > (MaxContextBytes-2)/4 {
		return nil, 0, fmt.Errorf("%w: more than %d bytes", ErrInvalidContext, MaxContextBytes)
	}
	size := 2
	pairs := scratch[:0]
	for k, v := range ec {
		if len(k) > maxField || len(v) > maxField {
			return nil, 0, fmt.Errorf("%w: key or value longer than %d bytes", ErrInvalidContext, maxField)
		}
		size += 4 + len(k) + len(v)
		if size > MaxContextBytes {
			return nil, 0, fmt.Errorf("%w: more than %d bytes", ErrInvalidContext, MaxContextBytes)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, 0, fmt.Errorf("%w: key or value is not valid UTF-8", ErrInvalidContext)
		}
		pairs = append(pairs, ctxPair{k, v})
	}
	// Go string comparison is bytewise, which is the ESDK order (UTF-8
	// key bytes, ascending). Map keys are unique, so the order is total.
	slices.SortFunc(pairs, func(a, b ctxPair) int { return strings.Compare(a.k, b.k) })
	return pairs, size, nil
}

// appendContext appends the canonical encoding of pairs (sorted and
// validated by sortContext) to dst. No pairs append nothing.
func appendContext(dst []byte, pairs []ctxPair) []byte {
	if len(pairs) == 0 {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pairs)))
	for _, p := range pairs {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.k)))
		dst = append(dst, p.k...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(p.v)))
		dst = append(dst, p.v...)
	}
	return dst
}
