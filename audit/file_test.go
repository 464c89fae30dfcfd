package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func sampleRecord(i int) Record {
	return Record{
		Time:              time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		RequestID:         fmt.Sprintf("req-%06d", i),
		Region:            "eu-west-1",
		Node:              "node-a",
		Principal:         "arn:aws:iam::111122223333:user/alice",
		AccessKeyID:       "AKIAEXAMPLE",
		SourceIP:          "192.0.2.7",
		UserAgent:         "aws-cli/2.15",
		Operation:         "Encrypt",
		KeyID:             "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		Resources:         []string{"arn:aws:kms:eu-west-1:111122223333:alias/app"},
		EncryptionContext: map[string]string{"Department": "Finance", "Project": "X"},
		Duration:          1234 * time.Microsecond,
	}
}

// readLines returns the lines of path, each decoded as a JSON object.
func readLines(t *testing.T, path string) []map[string]any {
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

func TestFileSinkWritesJSONLines(t *testing.T) {
	s, path := openTemp(t, FileOptions{})
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
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	got, _ := json.Marshal(lines[0])
	want := `{"awsRegion":"eu-west-1","durationMs":1.234,"eventName":"Encrypt","eventSource":"kms.amazonaws.com",` +
		`"eventTime":"2026-01-02T03:04:05.000006Z","eventType":"AwsApiCall","eventVersion":"1.08","kmsnodeNode":"node-a",` +
		`"requestID":"req-000001","requestParameters":{"encryptionContext":{"Department":"Finance","Project":"X"},` +
		`"keyId":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},` +
		`"resources":[{"ARN":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","accountId":"111122223333","type":"AWS::KMS::Key"},` +
		`{"ARN":"arn:aws:kms:eu-west-1:111122223333:alias/app","accountId":"111122223333","type":"AWS::KMS::Alias"}],` +
		`"sourceIPAddress":"192.0.2.7","userAgent":"aws-cli/2.15",` +
		`"userIdentity":{"accessKeyId":"AKIAEXAMPLE","accountId":"111122223333","arn":"arn:aws:iam::111122223333:user/alice","type":"IAMUser"}}`
	if string(got) != want {
		t.Errorf("record 1 =\n%s\nwant\n%s", got, want)
	}
	d := lines[1]
	if d["errorCode"] != "AccessDeniedException" || d["errorMessage"] != "User is not authorized" ||
		d["requestParameters"] != nil || d["resources"] != nil || d["eventName"] != "Decrypt" {
		t.Errorf("record 2 = %v", d)
	}
	if ts, _ := d["eventTime"].(string); ts == "" || strings.HasPrefix(ts, "0001") {
		t.Errorf("zero Time not stamped: %q", ts)
	}
	if _, has := lines[0]["errorCode"]; has {
		t.Errorf("successful record has errorCode")
	}
}

func TestFileSinkConcurrent(t *testing.T) {
	const writers, each = 32, 250
	// A small queue makes callers wait for the writer; nothing may be dropped.
	s, path := openTemp(t, FileOptions{Buffer: 16, BlockTimeout: time.Minute})
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
	lines := readLines(t, path)
	seen := make(map[string]bool, len(lines))
	for _, l := range lines {
		seen[l["requestID"].(string)] = true
	}
	if len(lines) != writers*each || len(seen) != writers*each || s.Dropped() != 0 {
		t.Fatalf("got %d lines, %d distinct, %d dropped; want %d", len(lines), len(seen), s.Dropped(), writers*each)
	}
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
	if n := len(readLines(t, path)); n != 0 {
		t.Errorf("%d lines written after Close", n)
	}
}

func TestFileSinkFlushesBeforeClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	written := make(chan struct{}, 100)
	s, err := openFile(FileOptions{Path: path, FlushInterval: time.Millisecond}, func() { written <- struct{}{} })
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
	if n := len(readLines(t, path)); n < 1 {
		t.Errorf("nothing written before Close")
	}
}

func TestFileSinkFlushesFullBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	written := make(chan struct{}, 100)
	s, err := openFile(FileOptions{Path: path, FlushInterval: time.Hour}, func() { written <- struct{}{} })
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
		func() { once.Do(func() { close(entered); <-release }) })
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
	if n := len(readLines(t, path)); n != 2 {
		t.Errorf("%d lines, want 2", n)
	}
}

func TestOpenFileEndsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(`{"eventName":"Encrypt"}`+"\n"+`{"eventName":"Decr`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := openTemp(t, FileOptions{Path: path})
	if err := s.Handle(context.Background(), sampleRecord(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || lines[1] != `{"eventName":"Decr` || !json.Valid([]byte(lines[2])) {
		t.Errorf("file =\n%s", data)
	}
}

func TestOpenFileErrors(t *testing.T) {
	if _, err := OpenFile(FileOptions{}); err == nil || !strings.HasPrefix(err.Error(), "audit: ") {
		t.Errorf("empty path: %v", err)
	}
	if _, err := OpenFile(FileOptions{Path: filepath.Join(t.TempDir(), "missing", "audit.jsonl")}); err == nil {
		t.Errorf("missing directory: no error")
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
			s, _ := openTemp(b, FileOptions{Path: bc.path, BlockTimeout: time.Minute})
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

func BenchmarkFileSinkHandleParallel(b *testing.B) {
	s, _ := openTemp(b, FileOptions{BlockTimeout: time.Minute})
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
