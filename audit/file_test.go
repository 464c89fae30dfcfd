package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sampleRecord(i int) Record {
	var b ObjectBuilder
	b.Reset()
	b.Name("keyId")
	b.String("alias/app")
	b.Name("encryptionContext")
	b.StringMap(map[string]string{"Department": "Finance", "Project": "X"}, 0, func(s string) string { return s })
	return Record{
		Time:              time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		EventID:           fmt.Sprintf("ev-%06d", i),
		RequestID:         fmt.Sprintf("req-%06d", i),
		Region:            "eu-west-1",
		Node:              "node-a",
		AccountID:         "111122223333",
		Principal:         "arn:aws:iam::111122223333:user/alice",
		AccessKeyID:       "AKIAEXAMPLE",
		SourceIP:          "192.0.2.7",
		UserAgent:         "aws-cli/2.15",
		Operation:         "Encrypt",
		ReadOnly:          true,
		KeyARN:            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		Resources:         []string{"arn:aws:kms:eu-west-1:111122223333:alias/app"},
		RequestParameters: b.Object(),
		Duration:          1234 * time.Microsecond,
	}
}

// readLines returns the lines of path, each decoded as a JSON object.
func readLines(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d %q: %v", len(out)+1, sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// records keeps the CloudTrail records of lines (not headers, checkpoints).
func records(lines []map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if _, ok := l["kmsnodeAudit"]; !ok {
			out = append(out, l)
		}
	}
	return out
}

func kinds(lines []map[string]any) string {
	var b strings.Builder
	for _, l := range lines {
		switch l["kmsnodeAudit"] {
		case "header":
			b.WriteByte('H')
		case "checkpoint":
			b.WriteByte('C')
		default:
			b.WriteByte('r')
		}
	}
	return b.String()
}

func openTemp(t testing.TB, opts FileOptions) (*FileSink, string) {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "audit.jsonl")
	}
	s, err := OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, opts.Path
}

// testSigner returns a signer over a fresh key and its public key.
func testSigner(t testing.TB) (*KeySigner, ed25519.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewKeySigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// verifyFiles runs Verify over paths with pub pinned (when not nil).
func verifyFiles(t testing.TB, opts VerifyOptions, paths ...string) *Report {
	t.Helper()
	var in []Input
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		in = append(in, Input{Name: filepath.Base(p), R: f})
	}
	return Verify(in, opts)
}

func mustVerify(t testing.TB, opts VerifyOptions, paths ...string) *Report {
	t.Helper()
	r := verifyFiles(t, opts, paths...)
	if !r.OK() {
		t.Fatalf("verify %v: %s", paths, r.Failure)
	}
	return r
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestFileSinkWritesChainedLog(t *testing.T) {
	signer, pub := testSigner(t)
	s, path := openTemp(t, FileOptions{Node: "node-a", Region: "eu-west-1", Signer: signer})
	ok := sampleRecord(1)
	denied := Record{RequestID: "req-2", Region: "eu-west-1", AccessKeyID: "AKIAUNKNOWN", Operation: "Decrypt",
		ErrorCode: "AccessDeniedException", ErrorMessage: "User is not authorized"}
	for _, r := range []Record{ok, denied} {
		if err := s.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", st.Mode(), err)
	}
	lines := readLines(t, path)
	if k := kinds(lines); k != "HrrC" {
		t.Fatalf("line kinds %s, want HrrC", k)
	}
	h := lines[0]
	if h["node"] != "node-a" || h["region"] != "eu-west-1" || h["seq"] != 1.0 || h["prev"] != strings.Repeat("0", 64) ||
		h["formatVersion"] != 1.0 || h["publicKey"] == nil {
		t.Errorf("header = %v", h)
	}
	r := lines[1]
	if r["eventName"] != "Encrypt" || r["seq"] != 2.0 || r["eventID"] != "ev-000001" || r["readOnly"] != true {
		t.Errorf("record 1 = %v", r)
	}
	d := lines[2]
	if d["errorCode"] != "AccessDeniedException" || d["requestParameters"] != nil || d["eventName"] != "Decrypt" {
		t.Errorf("record 2 = %v", d)
	}
	if ts, _ := d["eventTime"].(string); ts == "" || strings.HasPrefix(ts, "0001") {
		t.Errorf("zero Time not stamped: %q", ts)
	}
	if id, _ := d["eventID"].(string); len(id) != 36 {
		t.Errorf("empty EventID not stamped: %q", id)
	}
	if _, has := r["errorCode"]; has {
		t.Errorf("successful record has errorCode")
	}
	if c := lines[3]; c["records"] != 3.0 || c["seq"] != 4.0 {
		t.Errorf("checkpoint = %v", c)
	}
	rep := mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, path)
	if rep.Records != 2 || rep.Headers != 1 || rep.Checkpoints != 1 || rep.FirstSeq != 1 || rep.LastSeq != 4 ||
		rep.SignedThrough != 4 || rep.Unsigned != 0 || len(rep.Warnings) != 0 {
		t.Errorf("report = %+v", rep)
	}
}

func TestFileSinkCheckpointsByCountAndTime(t *testing.T) {
	signer, pub := testSigner(t)
	s, path := openTemp(t, FileOptions{Signer: signer, CheckpointRecords: 4, CheckpointInterval: 10 * time.Millisecond,
		FlushInterval: time.Millisecond})
	for i := range 7 {
		if err := s.Handle(context.Background(), sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The interval's checkpoint signs the tail without Close.
	eventually(t, "a checkpoint covers every record", func() bool {
		return strings.HasSuffix(kinds(readLines(t, path)), "C") && len(records(readLines(t, path))) == 7
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	k := kinds(readLines(t, path))
	if !strings.HasPrefix(k, "HrrrCrrrrC") { // header + 3 records = 4 lines, then 4 records
		t.Errorf("kinds = %s", k)
	}
	mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, path)
}

func TestFileSinkResumesChainAcrossReopen(t *testing.T) {
	signer, pub := testSigner(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for round := range 3 {
		s, _ := openTemp(t, FileOptions{Path: path, Signer: signer})
		for i := range 3 {
			if err := s.Handle(context.Background(), sampleRecord(round*10+i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if k := kinds(readLines(t, path)); k != "HrrrCHrrrCHrrrC" {
		t.Errorf("kinds = %s", k)
	}
	rep := mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, path)
	if rep.LastSeq != 15 || rep.Headers != 3 {
		t.Errorf("report = %+v", rep)
	}
}

func TestFileSinkConcurrent(t *testing.T) {
	const writers, each = 32, 250
	// A small queue makes callers wait for the writer; nothing may be dropped.
	signer, pub := testSigner(t)
	s, path := openTemp(t, FileOptions{Buffer: 16, BlockTimeout: time.Minute, Signer: signer, CheckpointRecords: 100})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Handle(context.Background(), sampleRecord(w*each+i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	recs := records(readLines(t, path))
	seen := make(map[string]bool, len(recs))
	for _, l := range recs {
		seen[l["requestID"].(string)] = true
	}
	if len(recs) != writers*each || len(seen) != writers*each || s.Dropped() != 0 {
		t.Fatalf("got %d records, %d distinct, %d dropped; want %d", len(recs), len(seen), s.Dropped(), writers*each)
	}
	mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, path)
}

func TestFileSinkHandleAfterClose(t *testing.T) {
	s, path := openTemp(t, FileOptions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(context.Background(), sampleRecord(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Handle after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if k := kinds(readLines(t, path)); k != "H" {
		t.Errorf("kinds %s after Close, want the header alone (no signer, no checkpoint)", k)
	}
}

func TestFileSinkFlushesBeforeClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	written := make(chan struct{}, 100)
	s, err := openFile(FileOptions{Path: path, FlushInterval: time.Millisecond}, hooks{beforeWrite: func() { written <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Handle(context.Background(), sampleRecord(1)); err != nil {
		t.Fatal(err)
	}
	<-written // the timer fired: the writer is about to write
	// The hook runs before the write; a second record proves the first was written.
	if err := s.Handle(context.Background(), sampleRecord(2)); err != nil {
		t.Fatal(err)
	}
	<-written
	if n := len(records(readLines(t, path))); n < 1 {
		t.Errorf("nothing written before Close")
	}
}

func TestFileSinkFlushesFullBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	written := make(chan struct{}, 100)
	s, err := openFile(FileOptions{Path: path, FlushInterval: time.Hour, CheckpointInterval: time.Hour},
		hooks{beforeWrite: func() { written <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := sampleRecord(1)
	n := batchBytes/len(r.AppendJSON(nil)) + 1
	for i := range n {
		if err := s.Handle(context.Background(), sampleRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-written // with an hour's interval only a full batch triggers a write
}

func TestFileSinkDropsWhenFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s, err := openFile(FileOptions{Path: path, FlushInterval: time.Nanosecond, Buffer: 1, BlockTimeout: time.Millisecond},
		hooks{beforeWrite: func() { once.Do(func() { close(entered); <-release }) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Handle(ctx, sampleRecord(1)); err != nil {
		t.Fatal(err)
	}
	<-entered // the writer holds record 1 and is stuck before writing it
	if err := s.Handle(ctx, sampleRecord(2)); err != nil {
		t.Fatal(err) // fills the one-slot queue
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Handle(cancelled, sampleRecord(3)); !errors.Is(err, ErrDropped) || !errors.Is(err, context.Canceled) {
		t.Errorf("Handle with a full queue and a cancelled context = %v", err)
	}
	if err := s.Handle(ctx, sampleRecord(4)); !errors.Is(err, ErrDropped) {
		t.Errorf("Handle with a full queue = %v, want ErrDropped after BlockTimeout", err)
	}
	if s.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2", s.Dropped())
	}
	close(release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(records(readLines(t, path))); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

// TestOpenFileAfterTornLine: a crash in the middle of a write leaves a
// partial line; the next open ends it, declares it in the header, and the
// log still verifies.
func TestOpenFileAfterTornLine(t *testing.T) {
	signer, pub := testSigner(t)
	s, path := openTemp(t, FileOptions{Signer: signer})
	if err := s.Handle(context.Background(), sampleRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	torn := `{"eventVersion":"1.08","userIdentity":{"type":"Unk`
	appendTo(t, path, torn)
	s, _ = openTemp(t, FileOptions{Path: path, Signer: signer})
	if err := s.Handle(context.Background(), sampleRecord(2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 7 || lines[3] != torn || !strings.Contains(lines[4], fmt.Sprintf(`"torn":%d,`, len(torn))) {
		t.Fatalf("file =\n%s", data)
	}
	rep := mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, path)
	if rep.Records != 2 || rep.Lines != 7 {
		t.Errorf("report = %+v", rep)
	}
}

func appendTo(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFileRefusesUnchainedLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(`{"eventName":"Encrypt"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFile(FileOptions{Path: path})
	if err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("OpenFile on an unchained log = %v", err)
	}
}

func TestOpenFileErrors(t *testing.T) {
	if _, err := OpenFile(FileOptions{}); err == nil || !strings.HasPrefix(err.Error(), "audit: ") {
		t.Errorf("empty path: %v", err)
	}
	if _, err := OpenFile(FileOptions{Path: filepath.Join(t.TempDir(), "missing", "audit.jsonl")}); err == nil {
		t.Errorf("missing directory: no error")
	}
	// /dev/full: every write fails with ENOSPC, a real full disk.
	if _, err := os.Stat("/dev/full"); err == nil {
		if _, err := OpenFile(FileOptions{Path: "/dev/full"}); err == nil || !strings.Contains(err.Error(), "no space") {
			t.Errorf("/dev/full: %v", err)
		}
	}
}

// BenchmarkFileSinkHandle measures Handle on the caller's goroutine. With a
// real file the writer and the disk bound the rate once the queue is full;
// /dev/null shows the cost of encoding and queuing alone.
func BenchmarkFileSinkHandle(b *testing.B) {
	for _, bc := range []struct{ name, path string }{{"file", ""}, {"devnull", os.DevNull}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.path != "" {
				if _, err := os.Stat(bc.path); err != nil {
					b.Skip(err)
				}
			}
			signer, _ := testSigner(b)
			s, _ := openTemp(b, FileOptions{Path: bc.path, BlockTimeout: time.Minute, Signer: signer})
			r := sampleRecord(1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Handle(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkFileSinkThroughput is the whole cost per record, caller and
// writer: Handle, then chain, checkpoints and write(2) to a file, up to
// Close (which waits for the writer to finish every record). cpu-ns/op is
// the process's CPU time (user + system, all threads) per record: the
// writer runs beside the caller, so ns/op alone would hide its share.
func BenchmarkFileSinkThroughput(b *testing.B) {
	signer, _ := testSigner(b)
	s, _ := openTemp(b, FileOptions{BlockTimeout: time.Minute, Signer: signer})
	r := sampleRecord(1)
	ctx := context.Background()
	b.ReportAllocs()
	before := cpuTime()
	for b.Loop() {
		if err := s.Handle(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkFileSinkHandleParallel(b *testing.B) {
	signer, _ := testSigner(b)
	s, _ := openTemp(b, FileOptions{BlockTimeout: time.Minute, Signer: signer})
	r := sampleRecord(1)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Handle(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}
