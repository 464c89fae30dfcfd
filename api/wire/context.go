package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// EncryptionContext is an AWS encryption context. It decodes like a JSON
// object of strings but refuses a key that appears twice: encoding/json
// would keep the last value, and a context must mean exactly one thing
// because it is bound into the ciphertext.
type EncryptionContext map[string]string

// ErrDuplicateContextKey is returned when a context names a key twice.
var ErrDuplicateContextKey = errors.New("wire: duplicate key in encryption context")

// UnmarshalJSONFrom implements the json/v2 UnmarshalerFrom interface: the
// API decodes requests with json/v2 (api/codec.go), whose decoder already
// refuses a name that appears twice in an object.
func (c *EncryptionContext) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		*c = nil
		return err
	case '{':
	default:
		return errors.New("wire: encryption context must be a JSON object")
	}
	m := map[string]string{}
	if err := jsonv2.UnmarshalDecode(dec, &m); err != nil {
		return err
	}
	*c = m
	return nil
}

// UnmarshalJSON implements json.Unmarshaler (encoding/json v1).
func (c *EncryptionContext) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*c = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("wire: encryption context must be a JSON object")
	}
	m := EncryptionContext{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		var v string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("wire: encryption context value of %q: %w", k, err)
		}
		if _, dup := m[k]; dup {
			return fmt.Errorf("%w: %q", ErrDuplicateContextKey, k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	*c = m
	return nil
}
