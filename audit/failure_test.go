package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultyFile injects write and fsync errors into a sink while failing is set.
type faultyFile struct {
	failWrite, failSync atomic.Bool
	partial             atomic.Bool // the next failing write writes half its bytes first
}

func (ff *faultyFile) hooks() hooks {
	return hooks{
		write: func(f *os.File, b []byte) (int, error) {
			if !ff.failWrite.Load() {
				return f.Write(b)
			}
			if ff.partial.CompareAndSwap(true, false) {
				n, err := f.Write(b[:len(b)/2])
				if err != nil {
					return n, err
				}
				return n, syscall.ENOSPC
			}
			return 0, syscall.ENOSPC
		},
		sync: func(f *os.File) error {
			if ff.failSync.Load() {
				return syscall.EIO
			}
			return f.Sync()
		},
	}
}

func fastOptions(t testing.TB, path string) (FileOptions, ed25519.PublicKey) {
	signer, pub := testSigner(t)
	if path == "" {
		path = filepath.Join(t.TempDir(), "audit.log")
	}
	return FileOptions{Path: path, Node: "n", Region: "r", Signer: signer,
		FlushInterval: time.Millisecond, CheckpointInterval: 5 * time.Millisecond}, pub
}

func handle(t testing.TB, s *FileSink, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Handle(context.Background(), sampleRecord(i)); err != nil {
			t.Fatalf("Handle %d: %v", i, err)
		}
	}
}

// TestFileSinkFailsAndRecovers: a disk-full write makes Err report the
// failure (the API then refuses calls), records keep being accepted into
// memory, and once writes succeed again Err clears and every record, a
// partially written batch included, is in a log that verifies.
func TestFileSinkFailsAndRecovers(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(map[bool]string{false: "nothing written", true: "half a batch written"}[partial], func(t *testing.T) {
			opts, pub := fastOptions(t, "")
			var ff faultyFile
			s, err := openFile(opts, ff.hooks())
			if err != nil {
				t.Fatal(err)
			}
			handle(t, s, 0, 3)
			eventually(t, "the first records are written", func() bool { return len(records(readLines(t, opts.Path))) == 3 })
			ff.partial.Store(partial)
			ff.failWrite.Store(true)
			handle(t, s, 3, 4)
			eventually(t, "Err reports the full disk", func() bool { return s.Err() != nil })
			if err := s.Err(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), opts.Path) {
				t.Errorf("Err = %v", err)
			}
			handle(t, s, 4, 10) // accepted while failing
			if s.Err() == nil {
				t.Fatal("recovered while writes still fail")
			}
			ff.failWrite.Store(false)
			eventually(t, "the sink recovers", func() bool { return s.Err() == nil })
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n, d := len(records(readLines(t, opts.Path))), s.Dropped(); n != 10 || d != 0 {
				t.Errorf("%d records, %d dropped; want 10, 0", n, d)
			}
			mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, opts.Path)
		})
	}
}

func TestFileSinkFsyncFailure(t *testing.T) {
	opts, pub := fastOptions(t, "")
	var ff faultyFile
	ff.failSync.Store(true)
	s, err := openFile(opts, ff.hooks())
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, 0, 2)
	eventually(t, "Err reports the fsync error", func() bool { return errors.Is(s.Err(), syscall.EIO) })
	ff.failSync.Store(false)
	eventually(t, "the sink recovers", func() bool { return s.Err() == nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, opts.Path)
}

// TestFileSinkMaxPending: while the file cannot be written, records beyond
// MaxPending are dropped and counted, never chained, so the log stays valid.
func TestFileSinkMaxPending(t *testing.T) {
	opts, pub := fastOptions(t, "")
	line := len(sampleRecord(0).appendBody(nil))
	opts.MaxPending = 3*line + line/2
	var ff faultyFile
	s, err := openFile(opts, ff.hooks())
	if err != nil {
		t.Fatal(err)
	}
	ff.failWrite.Store(true)
	handle(t, s, 0, 1)
	eventually(t, "Err reports the failure", func() bool { return s.Err() != nil })
	for i := 1; i < 10; i++ {
		_ = s.Handle(context.Background(), sampleRecord(i)) // some may be refused at once while failing
	}
	eventually(t, "records beyond MaxPending are dropped", func() bool { return s.Dropped() >= 6 })
	ff.failWrite.Store(false)
	eventually(t, "the sink recovers", func() bool { return s.Err() == nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(records(readLines(t, opts.Path)))
	if uint64(n)+s.Dropped() != 10 || n < 3 {
		t.Errorf("%d records written + %d dropped, want 10 with at least 3 written", n, s.Dropped())
	}
	mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, opts.Path)
}

// TestFileSinkFollowsRotation: a log rotator renames the file; the sink
// finishes the old one and continues the chain in a new file at the path.
func TestFileSinkFollowsRotation(t *testing.T) {
	opts, pub := fastOptions(t, "")
	s, err := OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, 0, 5)
	eventually(t, "records written", func() bool { return len(records(readLines(t, opts.Path))) == 5 })
	rotated := opts.Path + ".1"
	if err := os.Rename(opts.Path, rotated); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new file at the path", func() bool { _, err := os.Stat(opts.Path); return err == nil })
	handle(t, s, 5, 9)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if k := kinds(readLines(t, opts.Path)); !strings.HasPrefix(k, "H") || len(records(readLines(t, opts.Path))) != 4 {
		t.Errorf("new file kinds %s", k)
	}
	r := mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, rotated, opts.Path)
	if r.Records != 9 || r.Continues {
		t.Errorf("report %+v", r)
	}
}

// TestFileSinkDirectoryRemoved: the file and its directory disappear; the
// sink fails until the directory is back, then continues the chain in a new
// file holding every record accepted meanwhile.
func TestFileSinkDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts, pub := fastOptions(t, filepath.Join(dir, "audit.log"))
	s, err := OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, 0, 3)
	eventually(t, "records written", func() bool { return len(records(readLines(t, opts.Path))) == 3 })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Err reports the missing directory", func() bool { return errors.Is(s.Err(), os.ErrNotExist) })
	handle(t, s, 3, 6)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sink recovers", func() bool { return s.Err() == nil })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustVerify(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, opts.Path)
	if r.Records != 3 || !r.Continues || s.Dropped() != 0 {
		t.Errorf("report %+v, dropped %d", r, s.Dropped())
	}
}

// TestFileSinkStateContinuesRotatedLog: the log is rotated away while the
// node is stopped; the next open continues the chain from the state file,
// so the old file and the new one verify as one log.
func TestFileSinkStateContinuesRotatedLog(t *testing.T) {
	opts, pub := fastOptions(t, "")
	opts.StatePath = filepath.Join(t.TempDir(), "audit.state")
	s, err := OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rotated := opts.Path + ".1"
	if err := os.Rename(opts.Path, rotated); err != nil {
		t.Fatal(err)
	}
	s, err = OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, 3, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	pinned := VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}
	if r := mustVerify(t, pinned, rotated, opts.Path); r.Records != 5 || r.Continues {
		t.Errorf("report %+v", r)
	}
	// Without the state the new file starts a new chain, which does not
	// verify as a continuation of the old one.
	if err := os.Rename(opts.Path, opts.Path+".2"); err != nil {
		t.Fatal(err)
	}
	opts.StatePath = ""
	s, err = OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := verifyFiles(t, pinned, rotated, opts.Path+".2", opts.Path); r.OK() || r.Failure.File != "audit.log" || r.Failure.Line != 1 {
		t.Errorf("a new chain verified as a continuation: %v", r.Failure)
	}
}

// TestFileSinkFollowsCopyTruncate: a rotator copies the file and truncates
// it in place; the sink notices and starts the file again with a header,
// so the copy and the file verify as one log when nothing was lost between
// the copy and the truncation.
func TestFileSinkFollowsCopyTruncate(t *testing.T) {
	opts, pub := fastOptions(t, "")
	s, err := OpenFile(opts)
	if err != nil {
		t.Fatal(err)
	}
	handle(t, s, 0, 3)
	// Copy once the records are signed: the sink then writes nothing until
	// new records come, so nothing falls between the copy and the truncation.
	eventually(t, "records written and signed", func() bool {
		return len(records(readLines(t, opts.Path))) == 3 && strings.HasSuffix(kinds(readLines(t, opts.Path)), "C")
	})
	data, err := os.ReadFile(opts.Path)
	if err != nil {
		t.Fatal(err)
	}
	copied := opts.Path + ".1"
	if err := os.WriteFile(copied, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(opts.Path, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a header starts the truncated file", func() bool { return strings.HasPrefix(kinds(readLines(t, opts.Path)), "H") })
	handle(t, s, 3, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if k := kinds(readLines(t, opts.Path)); !strings.HasPrefix(k, "H") || len(records(readLines(t, opts.Path))) != 2 {
		t.Errorf("truncated file kinds %s", k)
	}
	if r := verifyFiles(t, VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}, RequireSignedTail: true}, copied, opts.Path); !r.OK() || r.Records != 5 {
		t.Errorf("report %+v %v", r, r.Failure)
	}
}
