package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by [FileSink.Handle] after [FileSink.Close].
var ErrClosed = errors.New("audit: sink closed")

// ErrDropped is returned, wrapped with the cause, by [FileSink.Handle] when
// a record could not be queued; the record is counted in
// [FileSink.Dropped].
var ErrDropped = errors.New("audit: record dropped")

// Defaults of [FileOptions].
const (
	DefaultFlushInterval      = 100 * time.Millisecond
	DefaultCheckpointInterval = time.Second
	DefaultCheckpointRecords  = 1000
	DefaultBuffer             = 8192
	DefaultBlockTimeout       = time.Second
	DefaultMaxPending         = 16 << 20
)

// batchBytes is the batch size at which the writer writes without waiting
// for the flush interval.
const batchBytes = 64 << 10

// FileOptions configures [OpenFile].
type FileOptions struct {
	Path   string // created with mode 0600 if missing; always appended to
	Node   string // node ID and region, written in headers and checkpoints
	Region string
	// Signer signs checkpoints; nil writes none (the chain alone is kept).
	Signer Signer

	FlushInterval time.Duration // longest time a queued record waits for write(2); default 100ms
	// CheckpointInterval: how often the writer signs a checkpoint (when
	// lines were added since the last), fsyncs, checks that Path still
	// names its file and, while failing, retries; default 1s.
	CheckpointInterval time.Duration
	// CheckpointRecords: a checkpoint also follows this many lines; default 1000.
	CheckpointRecords int
	Buffer            int // records queued between callers and the writer; default 8192

	// BlockTimeout bounds how long Handle waits for room in a full queue
	// before it drops the record; default 1s. The caller's context bounds
	// the wait too.
	BlockTimeout time.Duration
	// MaxPending bounds the bytes of records held in memory while the file
	// cannot be written; records beyond it are dropped. Default 16 MiB.
	MaxPending int
	Logger     *slog.Logger // state changes: failure, recovery, file replaced
	// Observer, if set, times every write and fsync (stats.go).
	Observer IOObserver
	// StatePath, if set, keeps the chain head (seq and hash of the last
	// line synced) in a small file outside the log, updated with every
	// fsync. A sink that opens an empty or missing log (it was rotated
	// away while the node was stopped) continues the chain from it, so the
	// rotated file and the new one verify as one log. After a crash the
	// state may lag the file by the lines written since the last fsync.
	StatePath string
}

// FileSink appends records to a hash-chained log file (chain.go): one JSON
// line per record, headers and signed checkpoints. Handle encodes the
// record on the caller's goroutine and queues it; one writer goroutine
// chains the lines in order and writes them when a batch reaches 64 KiB or
// FlushInterval after the first unwritten one, whichever is first. Every
// CheckpointInterval it signs a checkpoint and fsyncs. Close writes what is
// queued and a last checkpoint, fsyncs and closes the file.
//
// Loss window. Handle returns before the record is on disk, so the API
// answers a call before its record is written: a record reaches the OS page
// cache within FlushInterval (default 100 ms) unless the queue is backed
// up, and the disk within FlushInterval + CheckpointInterval (default
// 1.1 s). A crash of the process loses at most the records of the last
// FlushInterval; a crash of the machine those of the last FlushInterval +
// CheckpointInterval. A crash in the middle of a write leaves a partial
// line, which the next open declares in its header ("torn").
//
// Failure. When the file cannot be written (write or fsync error, disk
// full, the file removed and its directory gone or read-only), [FileSink.Err]
// reports it until a retry, every CheckpointInterval, succeeds; the API
// refuses calls meanwhile (fail closed). A write error is seen at the next
// write (within FlushInterval), a removed file at the next check (within
// CheckpointInterval: what was written to it until then went with it).
// Records keep being accepted into
// memory (up to MaxPending) and are written when the file recovers, so the
// calls refused during the outage are recorded too; records beyond
// MaxPending, and lines lost with a file that can no longer be written, are
// counted by Dropped. When Path stops naming the open file (moved by log
// rotation, or removed), the writer finishes the old file and continues the
// chain in a new file at Path, starting with a header; a file truncated in
// place (copytruncate) starts again with a header too. A FileSink is safe
// for concurrent use.
type FileSink struct {
	path     string
	state    string // StatePath
	node     string
	region   string
	signer   Signer
	log      *slog.Logger
	lines    chan *[]byte
	interval time.Duration
	cpEvery  time.Duration
	cpLines  uint64
	block    time.Duration
	maxQueue int
	hooks    hooks

	mu      sync.RWMutex  // Handle holds it shared while queuing; Close exclusively to close lines
	closed  bool          // guarded by mu
	closing chan struct{} // closed when Close starts: wakes Handles waiting for room
	done    chan struct{} // closed when the writer goroutine has exited

	dropped atomic.Uint64
	failed  atomic.Pointer[error] // the current failure; nil while writable
	// Figures for Stats (stats.go).
	records  atomic.Uint64
	failures atomic.Uint64
	pending  atomic.Int64

	infoMu sync.Mutex
	info   ChainInfo // guarded by infoMu; published by the writer

	closeOnce sync.Once
	closeErr  error

	// Writer goroutine state (and Open's, before the goroutine starts).
	f           *os.File
	fileInfo    os.FileInfo
	regular     bool  // fsync and watch only regular files (not /dev/stdout, a pipe, …)
	size        int64 // of the open file as far as this sink knows: what it found plus what it wrote
	ch          chain
	queue       []*[]byte // encoded records not yet chained
	queued      int       // bytes in queue
	out         []byte    // chained lines not yet fully written
	outLines    int       // lines in out
	outOff      int       // bytes of out already written
	since       uint64    // lines since the last checkpoint
	unsynced    bool
	failedAt    time.Time
	signWarned  bool
	stateWarned bool
}

// hooks replace file operations in tests.
type hooks struct {
	beforeWrite func()                                  // called before each write
	write       func(f *os.File, b []byte) (int, error) // default f.Write
	sync        func(f *os.File) error                  // default f.Sync
}

// ChainInfo describes a sink's log for operators (GetAuditPublicKey).
type ChainInfo struct {
	Path      string
	Node      string
	Region    string
	PublicKey ed25519.PublicKey // nil while not known
	Seq       uint64            // seq of the last line written
	Head      string            // hex SHA-256 of that line
}

// OpenFile opens (creating with mode 0600) the file at opts.Path for
// appending, resumes the chain from its last line and writes a header, and
// starts the sink's writer. It fails if the file does not end with a
// chained line (an audit log of an older kmsnode): such a file must be
// moved aside.
func OpenFile(opts FileOptions) (*FileSink, error) {
	return openFile(opts, hooks{})
}

func openFile(opts FileOptions, h hooks) (*FileSink, error) {
	if opts.Path == "" {
		return nil, errors.New("audit: FileOptions.Path is empty")
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.CheckpointRecords <= 0 {
		opts.CheckpointRecords = DefaultCheckpointRecords
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.BlockTimeout <= 0 {
		opts.BlockTimeout = DefaultBlockTimeout
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if h.write == nil {
		h.write = (*os.File).Write
	}
	if h.sync == nil {
		h.sync = (*os.File).Sync
	}
	h = h.observed(opts.Observer)
	s := &FileSink{
		// Checkpoints sign these as they appear in the file: valid UTF-8.
		path: opts.Path, state: opts.StatePath, node: sanitize(opts.Node), region: sanitize(opts.Region),
		signer:   opts.Signer,
		log:      opts.Logger,
		lines:    make(chan *[]byte, opts.Buffer),
		interval: opts.FlushInterval, cpEvery: opts.CheckpointInterval, cpLines: uint64(opts.CheckpointRecords),
		block: opts.BlockTimeout, maxQueue: opts.MaxPending, hooks: h,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		out:     make([]byte, 0, batchBytes+4096),
	}
	torn, err := s.open(true)
	if err == nil {
		s.hooks.beforeWrite = nil // the hook watches the writer goroutine only
		s.appendHeader(torn)
		if !s.writeOut() {
			err = s.Err()
		}
		s.hooks.beforeWrite = h.beforeWrite
	}
	if err != nil {
		if s.f != nil {
			s.f.Close()
		}
		return nil, err
	}
	s.publish()
	go s.run()
	return s, nil
}

// open opens the file at the path. When resume is set (the sink starts) the
// chain continues from the file's last line; when the writer replaces a
// moved or removed file, it continues its own chain. It returns the length
// of a partial last line, which the header declares.
func (s *FileSink) open(resumeChain bool) (torn int64, err error) {
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("audit: open audit file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("audit: open audit file: %w", err)
	}
	if st.Mode().IsRegular() {
		c, t, err := resume(f, st.Size())
		if err == nil && t > 0 {
			_, err = f.Write([]byte{'\n'}) // end the partial line so the header starts a line
		}
		if err != nil {
			f.Close()
			return 0, fmt.Errorf("audit: audit file %s: %w", s.path, err)
		}
		s.size = st.Size()
		if t > 0 {
			s.size++ // the newline just written
		}
		if resumeChain {
			s.ch = c
			if st.Size() == 0 && s.state != "" {
				if c, ok := loadState(s.state); ok {
					s.ch = c // the previous file was rotated away: continue its chain
				}
			}
		}
		torn = t
	}
	s.f, s.fileInfo, s.regular = f, st, st.Mode().IsRegular()
	return torn, nil
}

func (s *FileSink) appendHeader(torn int64) {
	var pub ed25519.PublicKey
	if s.signer != nil {
		pub = s.signer.PublicKey()
	}
	s.out = s.ch.appendHeader(s.out, time.Now(), s.node, s.region, pub, torn)
	s.outLines++
	s.since++
}

// linePool recycles line buffers between Handle and the writer.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle encodes r and queues it for writing. It returns nil once the
// record is queued; ErrClosed after Close; and an error wrapping ErrDropped
// if the queue stayed full for BlockTimeout (at once while the sink is
// failing), ctx ended or Close started while waiting. A zero r.Time is set
// to time.Now() and an empty r.EventID to a new UUID.
func (s *FileSink) Handle(ctx context.Context, r Record) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.EventID == "" {
		r.EventID = NewEventID()
	}
	line := linePool.Get().(*[]byte)
	*line = r.appendBody((*line)[:0])

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		linePool.Put(line)
		return ErrClosed
	}
	select {
	case s.lines <- line:
		return nil
	default:
	}
	cause := ctx.Err()
	if cause == nil {
		cause = s.Err() // failing: callers must not wait on a writer that cannot write
	}
	if cause == nil {
		cause = s.wait(ctx, line)
		if cause == nil {
			return nil
		}
	}
	linePool.Put(line)
	s.dropped.Add(1)
	return fmt.Errorf("%w: %w", ErrDropped, cause)
}

// wait queues line, waiting at most BlockTimeout for room; it returns why
// it could not.
func (s *FileSink) wait(ctx context.Context, line *[]byte) error {
	t := time.NewTimer(s.block)
	defer t.Stop()
	select {
	case s.lines <- line:
		return nil
	case <-t.C:
		return fmt.Errorf("queue full for %v", s.block)
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return ErrClosed
	}
}

// Dropped reports how many records given to the sink will never be
// written: those Handle refused with ErrDropped, those beyond MaxPending
// while the file could not be written, and lines lost with a file that
// failed for good.
func (s *FileSink) Dropped() uint64 { return s.dropped.Load() }

// Err reports why the sink cannot write its file now, or nil when it can.
// It clears by itself when a retry succeeds.
func (s *FileSink) Err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Info returns the sink's node, region, public key and the chain head as
// last written.
func (s *FileSink) Info() ChainInfo {
	s.infoMu.Lock()
	defer s.infoMu.Unlock()
	i := s.info
	if s.signer != nil {
		i.PublicKey = s.signer.PublicKey()
	}
	return i
}

func (s *FileSink) publish() {
	s.infoMu.Lock()
	s.info = ChainInfo{Path: s.path, Node: s.node, Region: s.region, Seq: s.ch.seq, Head: hex.EncodeToString(s.ch.head[:])}
	s.infoMu.Unlock()
}

// Close writes every queued record and a last checkpoint, fsyncs and
// closes the file. Handle calls waiting for room return an ErrDropped
// error; later calls return ErrClosed. Close returns the error that kept
// records from the file, or a sync or close error; calling it again
// returns the same result.
func (s *FileSink) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock() // waits for Handles that are queuing
		s.closed = true
		s.mu.Unlock()
		close(s.lines)
		<-s.done
		s.closeErr = s.Err()
	})
	return s.closeErr
}

// fail records err as the sink's current failure.
func (s *FileSink) fail(err error) {
	if s.failed.Swap(&err) == nil {
		s.failures.Add(1)
		s.failedAt = time.Now()
		s.log.Error("audit log cannot be written", "path", s.path, "err", err)
	}
}

// recovered clears the failure once everything owed is written and synced.
func (s *FileSink) recovered() {
	if s.failed.Swap(nil) != nil {
		s.log.Warn("audit log is writable again", "path", s.path, "after", time.Since(s.failedAt).Round(time.Millisecond),
			"dropped_total", s.dropped.Load())
	}
}

// loadState reads a chain state file written by saveState.
func loadState(path string) (chain, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return chain{}, false
	}
	seqText, headText, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	var c chain
	if !ok || err != nil || len(headText) != 2*len(c.head) {
		return chain{}, false
	}
	if _, err := hex.Decode(c.head[:], []byte(headText)); err != nil {
		return chain{}, false
	}
	c.seq = seq
	return c, true
}

// saveState records the chain head after an fsync: "<seq> <hex hash>\n",
// through a temporary file and a rename.
func (s *FileSink) saveState() {
	if s.state == "" {
		return
	}
	text := strconv.FormatUint(s.ch.seq, 10) + " " + hex.EncodeToString(s.ch.head[:]) + "\n"
	tmp := s.state + ".tmp"
	err := os.WriteFile(tmp, []byte(text), 0o600)
	if err == nil {
		err = os.Rename(tmp, s.state)
	}
	if err != nil && !s.stateWarned {
		s.stateWarned = true
		s.log.Warn("audit: cannot save the chain state", "path", s.state, "err", err)
	}
}
