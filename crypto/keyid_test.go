package crypto

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseKeyID(t *testing.T) {
	valid := []struct {
		in, canon string
		typ       byte
	}{
		{testUUID, testUUID, RefTypeUUID},
		{strings.ToUpper(testUUID), testUUID, RefTypeUUID},
		{"00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000", RefTypeUUID},
		{"mrk-0123456789abcdef0123456789abcdef", "mrk-0123456789abcdef0123456789abcdef", RefTypeMRK},
		{"mrk-0123456789ABCDEF0123456789abcdef", "mrk-0123456789abcdef0123456789abcdef", RefTypeMRK},
	}
	for _, tc := range valid {
		r, err := ParseKeyID(tc.in)
		if err != nil || r.Type != tc.typ || r.String() != tc.canon {
			t.Errorf("ParseKeyID(%q) = %v (%s), %v", tc.in, r, r, err)
		}
	}
	r := mustParseKeyID(t, testUUID)
	if r.ID != [16]byte{0x12, 0x34, 0xab, 0xcd, 0x12, 0xab, 0x34, 0xcd, 0x56, 0xef, 0x12, 0x34, 0x56, 0x78, 0x90, 0xab} {
		t.Errorf("ID bytes = %x", r.ID)
	}

	invalid := []string{
		"",
		"1234abcd12ab34cd56ef1234567890ab",          // no dashes
		"1234abcd-12ab-34cd-56ef-1234567890a",       // short
		"1234abcd-12ab-34cd-56ef-1234567890abc",     // long
		"1234abcd-12ab-34cd-56ef_1234567890ab",      // wrong separator
		"1234abcd-12ab-34cd-56ef-1234567890ag",      // not hex
		"1234abc-d12ab-34cd-56ef-1234567890ab",      // dash moved
		"{1234abcd-12ab-34cd-56ef-1234567890a}",     // braces
		"MRK-0123456789abcdef0123456789abcdef",      // prefix case
		"mrk-0123456789abcdef0123456789abcde",       // short
		"mrk-0123456789abcdef0123456789abcdeg",      // not hex
		"mrk_0123456789abcdef0123456789abcdef",      // prefix
		"alias/my-key",                              // alias
		"arn:aws:kms:us-east-1:111122223333:key/x",  // ARN
		"1234abcd-12ab-34cd-56ef-1234567890a\u00e9", // non-ASCII
	}
	for _, s := range invalid {
		if _, err := ParseKeyID(s); err != ErrInvalidKeyID {
			t.Errorf("ParseKeyID(%q) err = %v", s, err)
		}
	}
}

func TestKeyRef_StringInvalid(t *testing.T) {
	for _, r := range []KeyRef{{}, {Type: 3}} {
		s := r.String()
		if !strings.HasPrefix(s, "!INVALID:") {
			t.Errorf("String() = %q", s)
		}
		if _, err := ParseKeyID(s); err == nil {
			t.Errorf("ParseKeyID(%q) succeeded", s)
		}
	}
}

func TestNewKeyID(t *testing.T) {
	uuidV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	mrk := regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 100 {
		for _, multi := range []bool{false, true} {
			id, err := NewKeyID(multi)
			if err != nil {
				t.Fatal(err)
			}
			re := uuidV4
			if multi {
				re = mrk
			}
			if !re.MatchString(id) {
				t.Fatalf("NewKeyID(%v) = %q", multi, id)
			}
			if r, err := ParseKeyID(id); err != nil || r.String() != id {
				t.Fatalf("ParseKeyID(%q) = %s, %v", id, r, err)
			}
			if seen[id] {
				t.Fatalf("NewKeyID repeated %q", id)
			}
			seen[id] = true
		}
	}
}
