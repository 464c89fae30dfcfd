package api

import (
	"bytes"
	"encoding/base64"
	"unicode/utf8"

	"github.com/kmsnode/kmsnode/api/wire"
)

// Responses that carry a plaintext or data key are encoded here, straight
// into the server's pooled buffer (zeroed after the write), rather than with
// encoding/json, whose internal buffer pool would keep a copy of the base64
// plaintext that nobody clears. The output is what encoding/json produces
// for the same value.

// encodeSecret writes resp as JSON if it is one of the secret-bearing
// shapes and reports whether it did.
func encodeSecret(b *bytes.Buffer, resp any) bool {
	var o objectWriter
	o.b = b
	switch r := resp.(type) {
	case *wire.DecryptResponse:
		o.open()
		o.str("KeyId", r.KeyId)
		o.blob("Plaintext", r.Plaintext)
		o.str("EncryptionAlgorithm", r.EncryptionAlgorithm)
		o.blob("CiphertextForRecipient", r.CiphertextForRecipient)
		o.str("KeyMaterialId", r.KeyMaterialId)
	case *wire.GenerateDataKeyResponse:
		o.open()
		o.blob("CiphertextBlob", r.CiphertextBlob)
		o.blob("Plaintext", r.Plaintext)
		o.str("KeyId", r.KeyId)
		o.blob("CiphertextForRecipient", r.CiphertextForRecipient)
		o.str("KeyMaterialId", r.KeyMaterialId)
	case *wire.GenerateRandomResponse:
		o.open()
		o.blob("Plaintext", r.Plaintext)
		o.blob("CiphertextForRecipient", r.CiphertextForRecipient)
	case *rekeyResponse: // new unseal shares (operator_seal.go)
		r.encodeSecretTo(&o)
	default:
		return false
	}
	b.WriteString("}\n")
	return true
}

// objectWriter writes the members of one JSON object, omitting empty ones
// (the shapes' fields are all omitempty).
type objectWriter struct {
	b     *bytes.Buffer
	first bool
}

func (o *objectWriter) open() { o.b.WriteByte('{'); o.first = true }

func (o *objectWriter) key(k string) {
	if !o.first {
		o.b.WriteByte(',')
	}
	o.first = false
	o.b.WriteByte('"')
	o.b.WriteString(k)
	o.b.WriteString(`":`)
}

func (o *objectWriter) str(k, v string) {
	if v == "" {
		return
	}
	o.key(k)
	writeJSONString(o.b, v)
}

func (o *objectWriter) blob(k string, v []byte) {
	if len(v) == 0 {
		return
	}
	o.key(k)
	o.b.WriteByte('"')
	o.b.Grow(base64.StdEncoding.EncodedLen(len(v)) + 1)
	buf := o.b.AvailableBuffer()[:base64.StdEncoding.EncodedLen(len(v))]
	base64.StdEncoding.Encode(buf, v)
	o.b.Write(buf)
	o.b.WriteByte('"')
}

const hexDigits = "0123456789abcdef"

// writeJSONString quotes s as encoding/json does (HTML-safe escaping,
// invalid UTF-8 replaced by U+FFFD).
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\b':
				b.WriteString(`\b`)
			case c == '\f':
				b.WriteString(`\f`)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
