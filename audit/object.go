package audit

import (
	"slices"
	"strconv"
)

// Object is a JSON object for the free-form parts of a record
// (requestParameters, responseElements). It can only be made by an
// [ObjectBuilder], which writes valid JSON whatever the strings hold, so a
// record's line stays valid JSON. The zero Object is JSON null.
//
// It holds the encoded text in a string, not a []byte: a Record has no byte
// field for a plaintext to land in (TestRecordHoldsNoSecrets), and which
// members go in is decided by the builder's caller from an allowlist
// (api/audit_params.go).
type Object struct{ text string }

// IsNull reports whether o is the zero Object.
func (o Object) IsNull() bool { return o.text == "" }

// String returns the JSON text of o ("null" for the zero Object).
func (o Object) String() string {
	if o.text == "" {
		return "null"
	}
	return o.text
}

// ObjectBuilder writes one JSON object member by member. Names and string
// values are escaped by the builder. A call out of place (a value without a
// name in an object, End with nothing open) marks the builder broken and
// [ObjectBuilder.Object] then returns null rather than invalid JSON. Reset
// lets a pooled builder be reused.
type ObjectBuilder struct {
	buf    []byte
	stack  []frame
	broken bool
}

// frame is one open container.
type frame struct {
	array  bool
	first  bool // nothing written in it yet
	needed bool // object: a Name was written and its value is due
}

// Reset empties b and opens the top-level object.
func (b *ObjectBuilder) Reset() {
	b.buf = append(b.buf[:0], '{')
	b.stack = append(b.stack[:0], frame{first: true})
	b.broken = false
}

func (b *ObjectBuilder) top() *frame {
	if len(b.stack) == 0 {
		b.broken = true
		return nil
	}
	return &b.stack[len(b.stack)-1]
}

// Name starts the member name of the object being written.
func (b *ObjectBuilder) Name(name string) {
	f := b.top()
	if f == nil || f.array || f.needed {
		b.broken = true
		return
	}
	if !f.first {
		b.buf = append(b.buf, ',')
	}
	f.first = false
	f.needed = true
	b.buf = appendString(b.buf, name)
	b.buf = append(b.buf, ':')
}

// value prepares for a value: in an array it writes the separator, in an
// object it consumes the pending name.
func (b *ObjectBuilder) value() bool {
	f := b.top()
	switch {
	case f == nil:
		return false
	case f.array:
		if !f.first {
			b.buf = append(b.buf, ',')
		}
		f.first = false
	case !f.needed:
		b.broken = true
		return false
	default:
		f.needed = false
	}
	return true
}

// String writes a string value.
func (b *ObjectBuilder) String(v string) {
	if b.value() {
		b.buf = appendString(b.buf, v)
	}
}

// Int writes an integer value.
func (b *ObjectBuilder) Int(v int64) {
	if b.value() {
		b.buf = strconv.AppendInt(b.buf, v, 10)
	}
}

// Float writes a number; NaN and infinities, which JSON cannot hold, are
// written as null.
func (b *ObjectBuilder) Float(v float64) {
	if !b.value() {
		return
	}
	if v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308 {
		b.buf = append(b.buf, "null"...)
		return
	}
	b.buf = strconv.AppendFloat(b.buf, v, 'f', -1, 64)
}

// Null writes null.
func (b *ObjectBuilder) Null() {
	if b.value() {
		b.buf = append(b.buf, "null"...)
	}
}

// Bool writes true or false.
func (b *ObjectBuilder) Bool(v bool) {
	if b.value() {
		b.buf = strconv.AppendBool(b.buf, v)
	}
}

// StringMap writes m as an object with its keys sorted, so equal maps give
// equal bytes; at most max entries (the first in key order) when max > 0,
// each key and value cut by cut.
func (b *ObjectBuilder) StringMap(m map[string]string, max int, cut func(string) string) {
	if !b.value() {
		return
	}
	var small [16]string // most maps (encryption contexts) are small: no allocation
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if max > 0 && len(keys) > max {
		keys = keys[:max]
	}
	b.buf = append(b.buf, '{')
	for i, k := range keys {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.buf = appendString(b.buf, cut(k))
		b.buf = append(b.buf, ':')
		b.buf = appendString(b.buf, cut(m[k]))
	}
	b.buf = append(b.buf, '}')
}

// BeginObject opens a nested object as the next value.
func (b *ObjectBuilder) BeginObject() {
	if b.value() {
		b.buf = append(b.buf, '{')
		b.stack = append(b.stack, frame{first: true})
	}
}

// BeginArray opens an array as the next value.
func (b *ObjectBuilder) BeginArray() {
	if b.value() {
		b.buf = append(b.buf, '[')
		b.stack = append(b.stack, frame{array: true, first: true})
	}
}

// End closes the innermost open nested object or array.
func (b *ObjectBuilder) End() {
	f := b.top()
	if f == nil || len(b.stack) == 1 || f.needed {
		b.broken = true
		return
	}
	if f.array {
		b.buf = append(b.buf, ']')
	} else {
		b.buf = append(b.buf, '}')
	}
	b.stack = b.stack[:len(b.stack)-1]
}

// Len is the number of bytes written so far.
func (b *ObjectBuilder) Len() int { return len(b.buf) }

// Empty reports whether no member has been written to the top-level object.
func (b *ObjectBuilder) Empty() bool { return len(b.stack) == 1 && b.stack[0].first }

// Object returns what was built: the top-level object, or null if it has no
// member, a container is still open or a call was out of place. The
// builder's buffer is copied, so b can be reset and reused.
func (b *ObjectBuilder) Object() Object {
	if b.broken || len(b.stack) != 1 || b.stack[0].needed || b.stack[0].first {
		return Object{}
	}
	return Object{text: string(b.buf) + "}"}
}
