package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func header(payload []byte) Header {
	sum := sha256.Sum256(payload)
	return Header{
		Format: Format, Region: "eu-west-1", AccountID: "111122223333", NodeID: "n2",
		Version: "v1.2.3", Created: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Index: 1234, Term: 7, SnapshotVersion: 1, Size: int64(len(payload)),
		FSMDigest: hex.EncodeToString(sum[:]),
		Summary:   Summary{AppliedIndex: 1230, Keys: 3, Aliases: 2, Identities: 1, SealProviders: []string{"file"}, KeyringTerm: 1},
	}
}

func archive(t testing.TB, payload []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := Write(&b, header(payload), bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(b.Len()) {
		t.Fatalf("Write returned %d, wrote %d", n, b.Len())
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 4096, 100_000} {
		payload := bytes.Repeat([]byte("sealed state "), size/13+1)[:size]
		a := archive(t, payload)
		if want, err := Len(header(payload)); err != nil || want != int64(len(a)) {
			t.Fatalf("Len = %d, %v; archive is %d bytes", want, err, len(a))
		}
		// A reader that returns one byte at a time must see the same.
		r, err := NewReader(iotest.OneByteReader(bytes.NewReader(a)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("size %d: payload differs", size)
		}
		h := r.Header()
		if want := header(payload); h.Region != want.Region || h.Index != want.Index || !h.Created.Equal(want.Created) ||
			h.FSMDigest != want.FSMDigest || h.Summary.Keys != 3 || h.Summary.SealProviders[0] != "file" {
			t.Fatalf("header = %+v", h)
		}
		if _, err := r.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read after the end: %v, want io.EOF", err)
		}
	}
}

// Every single-byte change anywhere in the file, and every truncation, must
// be reported as damage (or, in the magic, as not a snapshot), never as a
// clean end.
func TestEveryByteMatters(t *testing.T) {
	payload := bytes.Repeat([]byte{0x5a, 0x01, 0xff}, 700)
	a := archive(t, payload)
	for i := range a {
		bad := bytes.Clone(a)
		bad[i] ^= 0x01
		if _, err := Verify(bytes.NewReader(bad)); err == nil {
			t.Fatalf("byte %d flipped: Verify passed", i)
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotSnapshot) && !errors.Is(err, ErrFormat) {
			t.Fatalf("byte %d flipped: %v is not a snapfile error", i, err)
		}
	}
	for n := range len(a) {
		_, err := Verify(bytes.NewReader(a[:n]))
		if err == nil {
			t.Fatalf("truncated to %d bytes: Verify passed", n)
		}
		if n >= len(magic) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := Verify(bytes.NewReader(append(bytes.Clone(a), 0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a byte appended: %v, want ErrCorrupt", err)
	}
}

func TestTruncatedIsCorrupt(t *testing.T) {
	a := archive(t, []byte("payload"))
	_, err := Verify(bytes.NewReader(a[:len(a)-1]))
	if !errors.Is(err, ErrTruncated) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrTruncated, a kind of ErrCorrupt", err)
	}
}

func TestNotASnapshot(t *testing.T) {
	for _, in := range []string{"", "kmsnode", "{\"format\":1}", strings.Repeat("x", 100)} {
		if _, err := NewReader(strings.NewReader(in)); !errors.Is(err, ErrNotSnapshot) {
			t.Errorf("%q: %v, want ErrNotSnapshot", in, err)
		}
	}
}

func TestHeaderLimits(t *testing.T) {
	pre := func(n uint32) []byte {
		b := []byte(magic)
		return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	// A header length beyond the limit is refused before anything is
	// allocated for it.
	if _, err := NewReader(bytes.NewReader(pre(MaxHeaderSize + 1))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("huge header length: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(pre(0))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("zero header length: %v", err)
	}
	js := `{"format":2,"region":"r","size":0,"fsm_digest":"` + strings.Repeat("0", 64) + `"}`
	if _, err := NewReader(bytes.NewReader(append(pre(uint32(len(js))), js...))); !errors.Is(err, ErrFormat) {
		t.Fatalf("format 2: %v, want ErrFormat", err)
	}
	js = `{"format":1,"region":"r","size":-1,"fsm_digest":"` + strings.Repeat("0", 64) + `"}`
	if _, err := NewReader(bytes.NewReader(append(pre(uint32(len(js))), js...))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("negative size: %v, want ErrCorrupt", err)
	}
}

func TestWriterChecksPayload(t *testing.T) {
	h := header([]byte("abc"))
	var b bytes.Buffer
	if _, err := Write(&b, h, strings.NewReader("abd")); err == nil {
		t.Fatal("a payload with another digest was accepted")
	}
	if _, err := Verify(bytes.NewReader(b.Bytes())); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("the archive of a refused payload verifies: %v", err)
	}
	b.Reset()
	if _, err := Write(&b, h, strings.NewReader("ab")); err == nil {
		t.Fatal("a short payload was accepted")
	}
	b.Reset()
	if _, err := Write(&b, h, strings.NewReader("abcd")); err == nil {
		t.Fatal("a long payload was accepted")
	}
	h.Format = 0
	if _, err := Write(&b, h, strings.NewReader("abc")); !errors.Is(err, ErrFormat) {
		t.Fatalf("format 0: %v", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(archive(f, nil))
	f.Add(archive(f, []byte("sealed payload bytes")))
	a := archive(f, bytes.Repeat([]byte{1, 2, 3}, 100))
	f.Add(a[:len(a)/2])
	f.Add([]byte(magic + "\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		payload, err := io.ReadAll(r)
		if err != nil {
			return
		}
		// Accepted: the payload must be exactly what the header vouches
		// for, and writing it again gives the same bytes.
		h := r.Header()
		sum := sha256.Sum256(payload)
		if int64(len(payload)) != h.Size || hex.EncodeToString(sum[:]) != h.FSMDigest {
			t.Fatalf("accepted a payload that does not match its header")
		}
		var again bytes.Buffer
		if _, err := Write(&again, h, bytes.NewReader(payload)); err != nil {
			t.Fatalf("rewrite: %v", err)
		}
		got, err := Verify(bytes.NewReader(again.Bytes()))
		if err != nil || got.FSMDigest != h.FSMDigest || got.Size != h.Size {
			t.Fatalf("rewritten archive does not verify: %v", err)
		}
	})
}
