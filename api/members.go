package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// AWS JSON member names are case-sensitive and unknown members are ignored;
// encoding/json matches names case-insensitively, so {"keyid": …} would fill
// KeyId. exactMembers keeps AWS's rule: a cheap scan of the top-level names
// (no allocation) and, only when a name is not an exact member, a slow path
// that drops such names before decoding.

// memberSet returns the exact JSON member names of a request type.
var memberSets sync.Map // reflect.Type → map[string]bool

func memberSet(t reflect.Type) map[string]bool {
	if m, ok := memberSets.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	memberSets.Store(t, m)
	return m
}

// exactMembers returns body unchanged when every top-level member name is
// an exact member of the request type (or the body is not a plain JSON
// object, which the decoder then reports), else body without the members
// whose names are not exact.
func exactMembers(body []byte, t reflect.Type) []byte {
	members := memberSet(t)
	ok := true
	scanTopLevelKeys(body, func(k []byte) bool {
		if !members[string(k)] { // no allocation: map lookup by converted []byte
			ok = false
		}
		return ok
	})
	if ok {
		return body
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return body
	}
	for k := range raw {
		if !members[k] {
			delete(raw, k)
		}
	}
	out, err := json.Marshal(raw)
	if err != nil {
		return body
	}
	return out
}

// scanTopLevelKeys calls fn with each top-level member name of a JSON object
// until fn returns false. Names with escapes are passed raw (they then fail
// the exact match and take the slow path). Malformed input just stops the
// scan.
func scanTopLevelKeys(b []byte, fn func(k []byte) bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return
		}
		end := skipString(b, i)
		if end < 0 || !fn(b[i+1:end-1]) {
			return
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return
		}
		if i = skipValue(b, skipWS(b, i+1)); i < 0 {
			return
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the JSON value starting at i, or -1.
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			if i = skipString(b, i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return -1
			}
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		default:
			if depth == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}
