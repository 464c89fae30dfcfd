package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildLog writes a log of n records with a checkpoint every cpEvery lines
// and returns its path, public key and lines (without newlines).
func buildLog(t testing.TB, dir string, n, cpEvery int) (string, ed25519.PublicKey, [][]byte) {
	t.Helper()
	path, _, pub, lines := buildSignedLog(t, dir, n, cpEvery)
	return path, pub, lines
}

// buildSignedLog is buildLog that also returns the log's signer.
func buildSignedLog(t testing.TB, dir string, n, cpEvery int) (string, *KeySigner, ed25519.PublicKey, [][]byte) {
	t.Helper()
	signer, pub := testSigner(t)
	path := filepath.Join(dir, "audit.log")
	s, err := OpenFile(FileOptions{Path: path, Node: "node-a", Region: "eu-west-1", Signer: signer,
		CheckpointRecords: cpEvery, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Handle(context.Background(), sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, signer, pub, bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func join(lines [][]byte) []byte {
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
		b = append(b, '\n')
	}
	return b
}

func verifyBytes(opts VerifyOptions, files ...[]byte) *Report {
	var in []Input
	for i, f := range files {
		in = append(in, Input{Name: "f" + strconv.Itoa(i+1), R: bytes.NewReader(f)})
	}
	return Verify(in, opts)
}

var chainTail = regexp.MustCompile(`,"seq":[0-9]+,"prev":"[0-9a-f]{64}"}$`)

// rechain rewrites the chain members of lines[from:] so the chain is intact
// again, re-signing checkpoints with signer: what someone who edits the
// log would do.
func rechain(t testing.TB, lines [][]byte, from int, signer Signer) [][]byte {
	t.Helper()
	out := make([][]byte, len(lines))
	copy(out, lines[:from])
	var c chain
	if from > 0 {
		var cm chainMembers
		if err := jsonUnmarshal(lines[from-1], &cm); err != nil {
			t.Fatal(err)
		}
		c = chain{seq: *cm.Seq, head: sha256.Sum256(lines[from-1])}
	}
	for i := from; i < len(lines); i++ {
		l := lines[i]
		if bytes.Contains(l, []byte(`"kmsnodeAudit":"checkpoint"`)) {
			var cm parsedLine
			if err := jsonUnmarshal(l, &cm); err != nil {
				t.Fatal(err)
			}
			b, err := c.appendCheckpoint(nil, time.Now(), cm.Node, cm.Region, cm.Records, signer)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = bytes.TrimSuffix(b, []byte("\n"))
			continue
		}
		body := chainTail.ReplaceAll(l, nil)
		out[i] = bytes.TrimSuffix(c.seal(append([]byte(nil), body...), 0), []byte("\n"))
	}
	return out
}

func TestVerifyUntouched(t *testing.T) {
	_, pub, lines := buildLog(t, t.TempDir(), 20, 5)
	r := verifyBytes(VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, join(lines))
	if !r.OK() || r.Records != 20 || r.Unsigned != 0 || r.SignedThrough != r.LastSeq || len(r.Warnings) != 0 || !r.KeyPinned {
		t.Fatalf("report = %+v, failure %v", r, r.Failure)
	}
	// Unpinned, the log's own key is used, with a warning saying so.
	r = verifyBytes(VerifyOptions{}, join(lines))
	if !r.OK() || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].Message, "no public key was pinned") {
		t.Fatalf("unpinned report = %+v", r)
	}
}

// TestVerifyDetectsTampering: a changed byte, a removed record, two swapped
// records, a forged checkpoint and a forged signature each fail, naming the
// file, line and seq of the first bad line.
func TestVerifyDetectsTampering(t *testing.T) {
	_, pub, lines := buildLog(t, t.TempDir(), 20, 5)
	// Lines: 1 H, 2-5 r, 6 C, 7-11 r, 12 C, … Record at index 7 is line 8, seq 8.
	const i = 7
	if bytes.Contains(lines[i], []byte("kmsnodeAudit")) || bytes.Contains(lines[i+1], []byte("kmsnodeAudit")) {
		t.Fatalf("lines %d and %d are not records", i+1, i+2)
	}
	mallory, malloryPub := testSigner(t)
	pinned := VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}}
	for _, tc := range []struct {
		name   string
		edit   func() [][]byte
		opts   VerifyOptions
		line   int
		seq    uint64
		reason string
	}{
		{"one byte changed", func() [][]byte {
			l := clone(lines)
			l[i] = bytes.Replace(l[i], []byte("aws-cli/2.15"), []byte("aws-cli/2.16"), 1)
			return l
		}, pinned, i + 1, i + 1, "this line was changed"},
		{"one byte of prev changed", func() [][]byte {
			l := clone(lines)
			j := bytes.LastIndex(l[i], []byte(`"prev":"`)) + 8
			l[i][j] = "10"[min(1, int(l[i][j]-'0'))] // another hex digit
			return l
		}, pinned, i + 1, i + 1, "changed"},
		{"record removed", func() [][]byte {
			l := clone(lines)
			return append(l[:i], l[i+1:]...)
		}, pinned, i + 1, i + 2, "1 line(s) are missing"},
		{"two records swapped", func() [][]byte {
			l := clone(lines)
			l[i], l[i+1] = l[i+1], l[i]
			return l
		}, pinned, i + 1, i + 2, "out of order"},
		{"record changed and checkpoint forged", func() [][]byte {
			l := clone(lines)
			l[i] = bytes.Replace(l[i], []byte("aws-cli/2.15"), []byte("evil-cli/1"), 1)
			return rechain(t, l, i, mallory)
		}, pinned, 12, 12, "not a pinned key"},
		{"forged checkpoint, key not pinned", func() [][]byte {
			l := clone(lines)
			l[i] = bytes.Replace(l[i], []byte("aws-cli/2.15"), []byte("evil-cli/1"), 1)
			return rechain(t, l, i, mallory)
		}, VerifyOptions{}, 12, 12, "the audit key changed"},
		{"whole log re-signed, other key pinned", func() [][]byte {
			l := clone(lines)
			l[0] = bytes.Replace(l[0], []byte(b64(pub)), []byte(b64(malloryPub)), 1)
			return rechain(t, l, 0, mallory)
		}, pinned, 1, 1, "not a pinned key"},
		{"checkpoint signature forged", func() [][]byte {
			l := clone(lines)
			var cm parsedLine
			if err := jsonUnmarshal(l[11], &cm); err != nil {
				t.Fatal(err)
			}
			sig := ed25519.Sign(mallory.key, []byte("anything"))
			l[11] = bytes.Replace(l[11], []byte(cm.Signature), []byte(b64(sig)), 1)
			return rechain(t, l[:12], 12, mallory)
		}, pinned, 12, 12, "does not verify"},
		{"unsigned tail required", func() [][]byte {
			return clone(lines)[:len(lines)-1] // the Close checkpoint removed
		}, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, 25, 25, "not covered by a checkpoint"},
		{"garbage line", func() [][]byte {
			l := clone(lines)
			return append(l[:i], append([][]byte{[]byte("not json")}, l[i:]...)...)
		}, pinned, i + 1, 0, "not a chained audit line"},
		{"checkpoint not canonical", func() [][]byte {
			l := clone(lines)
			l[5] = bytes.Replace(l[5], []byte(`"node":"node-a"`), []byte(`"node":"node\u002da"`), 1)
			return l
		}, pinned, 6, 6, "canonical"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyBytes(tc.opts, join(tc.edit()))
			if r.OK() {
				t.Fatalf("tampered log verified: %+v", r)
			}
			f := r.Failure
			var seq uint64
			if f.Seq != nil {
				seq = *f.Seq
			}
			if f.File != "f1" || f.Line != tc.line || seq != tc.seq || !strings.Contains(f.Message, tc.reason) {
				t.Errorf("failure %s; want line %d seq %d %q", f, tc.line, tc.seq, tc.reason)
			}
		})
	}
	if r := verifyBytes(VerifyOptions{PublicKeys: []ed25519.PublicKey{malloryPub}}, join(lines)); r.OK() {
		t.Errorf("the log verified under another pinned key")
	}
}

func clone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = append([]byte(nil), l...)
	}
	return out
}

func TestVerifyUnsignedTailIsAWarning(t *testing.T) {
	_, pub, lines := buildLog(t, t.TempDir(), 6, 100)
	// Without the Close checkpoint nothing is signed.
	r := verifyBytes(VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}}, join(lines[:len(lines)-1]))
	if !r.OK() || r.Unsigned != 7 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].String(), "f1 line 1 (seq 1): the log has no checkpoint") {
		t.Fatalf("report = %+v %v", r, r.Warnings)
	}
}

func TestVerifyAcrossFiles(t *testing.T) {
	_, signer, pub, lines := buildSignedLog(t, t.TempDir(), 20, 5)
	// Split as rotation does: the second file starts with a header that
	// continues the first.
	c := chain{seq: 12, head: sha256.Sum256(lines[11])}
	head := bytes.TrimSuffix(c.appendHeader(nil, time.Now(), "node-a", "eu-west-1", pub, 0), []byte("\n"))
	second := rechain(t, append([][]byte{head}, clone(lines[12:])...), 1, signer)
	first := join(lines[:12])
	opts := VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}
	if r := verifyBytes(opts, first, join(second)); !r.OK() || r.Files != 2 || r.Headers != 2 {
		t.Fatalf("two files: %+v %v", r, r.Failure)
	}
	// The second file alone continues an earlier one: a warning, not a failure.
	if r := verifyBytes(opts, join(second)); !r.OK() || !r.Continues {
		t.Fatalf("second file alone: %+v %v", r, r.Failure)
	}
	// Out of order, or with the first file's end cut, fails at the second file's header.
	if r := verifyBytes(opts, join(second), first); r.OK() {
		t.Fatalf("files out of order verified")
	}
	r := verifyBytes(opts, join(lines[:11]), join(second))
	if r.OK() || r.Failure.File != "f2" || r.Failure.Line != 1 || !strings.Contains(r.Failure.Message, "missing") {
		t.Fatalf("first file cut: %v", r.Failure)
	}
}

func FuzzVerify(f *testing.F) {
	_, _, lines := buildLog(f, f.TempDir(), 6, 3)
	valid := join(lines)
	f.Add(valid, uint(0))
	f.Add(valid, uint(len(valid)/2))
	f.Add(append(join(lines[:3]), `{"eventVersion":"1.08","user`...), uint(0))
	f.Add([]byte("{}\n{\"seq\":1,\"prev\":\"00\"}\n"), uint(3))
	f.Add([]byte(`{"kmsnodeAudit":"header","formatVersion":1,"time":"","node":"","region":"","torn":5,"seq":1,"prev":"`+strings.Repeat("0", 64)+`"}`+"\n"), uint(0))
	f.Fuzz(func(t *testing.T, data []byte, split uint) {
		cut := int(split % uint(len(data)+1))
		for _, files := range [][][]byte{{data}, {data[:cut], data[cut:]}} {
			r := verifyBytes(VerifyOptions{}, files...)
			if r.OK() && (r.Lines == 0 || r.LastSeq < r.FirstSeq || r.Headers == 0) {
				t.Fatalf("inconsistent report %+v", r)
			}
		}
	})
}

// FuzzVerifyTamper changes one byte of a signed log: with the key pinned
// and a signed tail required, every change must fail.
func FuzzVerifyTamper(f *testing.F) {
	_, pub, lines := buildLog(f, f.TempDir(), 8, 4)
	valid := join(lines)
	opts := VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}
	if r := verifyBytes(opts, valid); !r.OK() {
		f.Fatalf("untouched log: %v", r.Failure)
	}
	for _, pos := range []uint{0, 10, uint(len(valid) / 2), uint(len(valid) - 1), uint(len(valid) - 3)} {
		f.Add(pos, byte('x'))
		f.Add(pos, byte('\n'))
	}
	f.Fuzz(func(t *testing.T, pos uint, b byte) {
		data := bytes.Clone(valid)
		i := int(pos % uint(len(data)))
		if data[i] == b {
			return
		}
		data[i] = b
		if r := verifyBytes(opts, data); r.OK() {
			t.Fatalf("changing byte %d (%q in %q) to %q went unnoticed", i, valid[i], lineAt(valid, i), b)
		}
	})
}

func lineAt(data []byte, i int) []byte {
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	end := bytes.IndexByte(data[i:], '\n')
	if end < 0 {
		return data[start:]
	}
	return data[start : i+end]
}

func BenchmarkVerify(b *testing.B) {
	_, pub, lines := buildLog(b, b.TempDir(), 2000, 1000)
	data := join(lines)
	opts := VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if r := verifyBytes(opts, data); !r.OK() {
			b.Fatal(r.Failure)
		}
	}
}
