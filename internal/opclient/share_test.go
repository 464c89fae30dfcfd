package opclient

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestDecodeShare(t *testing.T) {
	share := []byte{1, 3, 2, 0xff, 0x00, 0x7e}
	text := base64.StdEncoding.EncodeToString(share)
	for _, in := range []string{text, " " + text + "\n", strings.TrimRight(base64.StdEncoding.EncodeToString(share[:5]), "=")} {
		b, err := DecodeShare([]byte(in))
		if err != nil || !bytes.HasPrefix(share, b) || len(b) < 5 {
			t.Errorf("DecodeShare(%q) = %x, %v", in, b, err)
		}
	}
	for _, in := range []string{"", " \n", "not base64!", "====", "A"} {
		if b, err := DecodeShare([]byte(in)); err == nil {
			t.Errorf("DecodeShare(%q) = %x, want an error", in, b)
		}
	}
}

func FuzzDecodeShare(f *testing.F) {
	for _, s := range []string{"AQMBAgM=", "AQMBAgM", " AQMBAgM= \n", "", "!!", "====", strings.Repeat("A", 100)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		b, err := DecodeShare(text)
		if err != nil {
			if b != nil {
				t.Fatalf("error with bytes: %x", b)
			}
			return
		}
		if len(b) == 0 || len(b) > len(text) {
			t.Fatalf("%q decoded to %d bytes", text, len(b))
		}
		// What decodes re-encodes to the same text, padding aside.
		want := strings.TrimRight(string(bytes.TrimSpace(text)), "=")
		if got := base64.RawStdEncoding.EncodeToString(b); got != want {
			t.Fatalf("%q decoded to %x, which encodes as %q", text, b, got)
		}
	})
}
