package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestCanonicalContext_KnownAnswers(t *testing.T) {
	cases := []struct {
		name string
		ec   map[string]string
		want string
	}{
		{"nil", nil, ""},
		{"empty", map[string]string{}, ""},
		{"empty pair", map[string]string{"": ""}, "0001" + "0000" + "0000"},
		{"ab:c", map[string]string{"ab": "c"}, "0001" + "0002" + "6162" + "0001" + "63"},
		{"a:bc", map[string]string{"a": "bc"}, "0001" + "0001" + "61" + "0002" + "6263"},
		{
			// Bytewise order: "B" (0x42) < "a" (0x61) < "b" (0x62).
			"sorted", map[string]string{"b": "2", "a": "1", "B": "3"},
			"0003" + "0001" + "42" + "0001" + "33" + "0001" + "61" + "0001" + "31" + "0001" + "62" + "0001" + "32",
		},
		{
			// UTF-8 byte order, not code point order within UTF-16:
			// "z" (7a) < "é" (c3 a9) < "😀" (f0 9f 98 80).
			"utf8", map[string]string{"😀": "", "é": "x", "z": "y"},
			"0003" + "0001" + "7a" + "0001" + "79" + "0002" + "c3a9" + "0001" + "78" + "0004" + "f09f9880" + "0000",
		},
		{"prefix key", map[string]string{"ab": "1", "a": "2"}, "0002" + "0001" + "61" + "0001" + "32" + "0002" + "6162" + "0001" + "31"},
	}
	for _, tc := range cases {
		got, err := CanonicalContext(tc.ec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got == nil {
			t.Errorf("%s: nil slice", tc.name)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("%s: got %x, want %s", tc.name, got, tc.want)
		}
		if !bytes.Equal(got, refContext(tc.ec)) {
			t.Errorf("%s: reference encoder disagrees", tc.name)
		}
	}
}

func TestCanonicalContext_OrderIndependent(t *testing.T) {
	// Go randomises map iteration; build the same map many times in
	// different insertion orders.
	keys := []string{"tenant", "purpose", "aws:s3:arn", "Z", "a", "é", "department", "x1", "x2", "x10"}
	var first []byte
	for i := range 50 {
		ec := map[string]string{}
		for j := range keys {
			k := keys[(i+j*7)%len(keys)]
			ec[k] = strings.ToUpper(k)
		}
		got, err := CanonicalContext(ec)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		} else if !bytes.Equal(first, got) {
			t.Fatalf("encoding depends on insertion order:\n%x\n%x", first, got)
		}
	}
}

func TestCanonicalContext_Invalid(t *testing.T) {
	cases := map[string]map[string]string{
		"bad key utf8":       {"\xff": "v"},
		"bad value utf8":     {"k": "a\xc3"},
		"surrogate":          {"k": "\xed\xa0\x80"},
		"overlong":           {"\xc0\xaf": ""},
		"key over 65535":     {strings.Repeat("k", 65536): ""},
		"value over 65535":   {"k": strings.Repeat("v", 65536)},
		"over cap one value": {"k": strings.Repeat("v", MaxContextBytes)},
	}
	many := map[string]string{}
	for i := range 3000 {
		many[string(rune('a'+i%26))+strings.Repeat("x", i/26)] = ""
	}
	cases["too many pairs"] = many
	for name, ec := range cases {
		got, err := CanonicalContext(ec)
		if !errors.Is(err, ErrInvalidContext) || got != nil {
			t.Errorf("%s: got %d bytes, err %v", name, len(got), err)
		}
	}
}

func TestCanonicalContext_SizeCap(t *testing.T) {
	// One pair of key length 1: 2 + 4 + 1 + len(v) bytes.
	exact := map[string]string{"k": strings.Repeat("v", MaxContextBytes-7)}
	got, err := CanonicalContext(exact)
	if err != nil || len(got) != MaxContextBytes {
		t.Fatalf("at the cap: %d bytes, %v", len(got), err)
	}
	over := map[string]string{"k": strings.Repeat("v", MaxContextBytes-6)}
	if _, err := CanonicalContext(over); !errors.Is(err, ErrInvalidContext) {
		t.Fatalf("one over the cap: %v", err)
	}
	// Many small pairs summing past the cap.
	ec := map[string]string{}
	for i := 0; ; i++ {
		ec[strings.Repeat("k", i+1)] = "v"
		if _, err := CanonicalContext(ec); err != nil {
			if !errors.Is(err, ErrInvalidContext) {
				t.Fatal(err)
			}
			break
		}
	}
}
