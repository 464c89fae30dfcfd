package opclient

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// DecodeShare decodes the base64 text of an unseal share as printed by a
// node (padded or not, surrounding space ignored). The caller zeroes the
// result.
func DecodeShare(text []byte) ([]byte, error) {
	t := bytes.TrimSpace(text)
	if len(t) == 0 {
		return nil, errors.New("no unseal share given")
	}
	if bytes.ContainsAny(t, " \t\r\n") {
		return nil, errors.New("the unseal share is one line of base64 text without spaces")
	}
	// Strict: a share has one text; stray trailing bits mean a typo.
	enc := base64.StdEncoding.Strict()
	if len(t)%4 != 0 {
		enc = base64.RawStdEncoding.Strict()
	}
	b := make([]byte, enc.DecodedLen(len(t)))
	n, err := enc.Decode(b, t)
	if err != nil || n == 0 {
		clear(b)
		return nil, errors.New("the unseal share is not base64 text (copy it as printed when the region was initialised or rekeyed)")
	}
	return b[:n], nil
}
