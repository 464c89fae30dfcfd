package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultBuffer        = 8192
	DefaultBlockTimeout  = time.Second
)

// batchBytes is the batch size at which the writer flushes without waiting
// for the flush interval.
const batchBytes = 64 << 10

// FileOptions configures [OpenFile].
type FileOptions struct {
	Path          string        // created with mode 0600 if missing; always appended to
	FlushInterval time.Duration // longest time a queued record waits for write(2); default 100ms
	Buffer        int           // records queued between callers and the writer; default 8192

	// BlockTimeout bounds how long Handle waits for room in a full queue
	// before it drops the record; default 1s. The caller's context bounds
	// the wait too.
	BlockTimeout time.Duration
}

// FileSink appends records as JSON lines ([Record.AppendJSON] plus "\n") to
// a file. Handle encodes the record on the caller's goroutine and queues the
// line on a buffered channel; one writer goroutine batches lines and writes
// them when the batch reaches 64 KiB or FlushInterval after the first
// unwritten line, whichever is first. Close writes what is queued, fsyncs
// and closes the file.
//
// Loss window: a record for which Handle returned nil has reached the OS
// page cache within FlushInterval (default 100ms) unless the queue is
// backed up; until then a crash of the process loses it. Because the file
// is fsynced only by Close, a crash of the machine can lose everything
// written since the file was opened that the OS had not yet written back.
// Records that are never written — the queue stayed full for BlockTimeout,
// the context ended, the sink closed while Handle waited, or a write failed
// — are counted by Dropped, and all but the last case also make Handle
// return an error.
//
// After a write error every later Handle fails with that error (the file
// may hold a partial line). A FileSink is safe for concurrent use.
type FileSink struct {
	f        *os.File
	regular  bool // fsync only regular files (not /dev/stdout, a pipe, …)
	lines    chan *[]byte
	interval time.Duration
	block    time.Duration

	mu      sync.RWMutex  // Handle holds it shared while queuing; Close exclusively to close lines
	closed  bool          // guarded by mu
	closing chan struct{} // closed when Close starts: wakes Handles waiting for room
	done    chan struct{} // closed when the writer goroutine has exited

	dropped atomic.Uint64
	failed  atomic.Pointer[error] // first write error, sticky

	closeOnce sync.Once
	closeErr  error

	beforeWrite func() // test hook, called by the writer before each write
}

// OpenFile opens (creating with mode 0600) the file at opts.Path for
// appending and starts the sink's writer. If the file ends in a partial line
// (a crash during a write), a newline is added first so that new records
// stay parseable.
func OpenFile(opts FileOptions) (*FileSink, error) {
	return openFile(opts, nil)
}

func openFile(opts FileOptions, beforeWrite func()) (*FileSink, error) {
	if opts.Path == "" {
		return nil, errors.New("audit: FileOptions.Path is empty")
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.BlockTimeout <= 0 {
		opts.BlockTimeout = DefaultBlockTimeout
	}
	f, err := os.OpenFile(opts.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: open audit file: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() {
		err = endLine(f, st.Size())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: open audit file: %w", err)
	}
	s := &FileSink{
		f:           f,
		regular:     st.Mode().IsRegular(),
		lines:       make(chan *[]byte, opts.Buffer),
		interval:    opts.FlushInterval,
		block:       opts.BlockTimeout,
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
		beforeWrite: beforeWrite,
	}
	go s.run()
	return s, nil
}

// endLine appends "\n" to f, of the given size, if it is non-empty and does
// not end with one.
func endLine(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil && err != io.EOF {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	_, err := f.Write([]byte{'\n'})
	return err
}

// linePool recycles line buffers between Handle and the writer.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle encodes r and queues it for writing. It returns nil once the
// record is queued; ErrClosed after Close; an error wrapping ErrDropped if
// the queue stayed full for BlockTimeout, ctx ended or Close started while
// waiting; and the sticky error after a write failure. A zero r.Time is
// set to time.Now().
func (s *FileSink) Handle(ctx context.Context, r Record) error {
	if err := s.err(); err != nil {
		s.dropped.Add(1)
		return err
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	line := linePool.Get().(*[]byte)
	*line = append(r.AppendJSON((*line)[:0]), '\n')

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

// Dropped reports how many records given to the open sink will never be
// written: those Handle refused with ErrDropped or a write error, and
// queued ones lost to a write error.
func (s *FileSink) Dropped() uint64 { return s.dropped.Load() }

// Close writes every queued record, fsyncs and closes the file. Handle
// calls waiting for room return an ErrDropped error; later calls return
// ErrClosed. Close returns the first write, sync or close error; calling
// it again returns the same result.
func (s *FileSink) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock() // waits for Handles that are queuing
		s.closed = true
		s.mu.Unlock()
		close(s.lines)
		<-s.done
		err := s.err()
		if s.regular {
			if serr := s.f.Sync(); err == nil && serr != nil {
				err = fmt.Errorf("audit: sync audit file: %w", serr)
			}
		}
		if cerr := s.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit: close audit file: %w", cerr)
		}
		s.closeErr = err
	})
	return s.closeErr
}

func (s *FileSink) err() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// run is the writer goroutine. It alone writes the file, so records reach
// the file in the order it receives them.
func (s *FileSink) run() {
	defer close(s.done)
	batch := make([]byte, 0, batchBytes+4096)
	pending := 0 // records in batch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false

	flush := func() {
		if armed {
			timer.Stop()
			armed = false
		}
		if pending == 0 {
			return
		}
		if s.beforeWrite != nil {
			s.beforeWrite()
		}
		if s.err() != nil {
			s.dropped.Add(uint64(pending))
		} else if _, err := s.f.Write(batch); err != nil {
			err = fmt.Errorf("audit: write audit file: %w", err)
			s.failed.CompareAndSwap(nil, &err)
			s.dropped.Add(uint64(pending))
		}
		batch, pending = batch[:0], 0
	}

	for {
		var line *[]byte
		ok := true
		if armed {
			select {
			case line, ok = <-s.lines:
			case <-timer.C:
				armed = false
				flush()
				continue
			}
		} else {
			line, ok = <-s.lines
		}
		if !ok {
			flush()
			return
		}
		// Hash chaining (issue 4) goes here: this is the one place that sees
		// records in file order. Compute h = SHA-256(prev ‖ line), splice it
		// into the line before its closing brace, keep h as prev, and write
		// periodic signed checkpoints from the same loop.
		batch = append(batch, *line...)
		pending++
		if cap(*line) <= 64<<10 {
			linePool.Put(line)
		}
		if len(batch) >= batchBytes {
			flush()
		} else if !armed {
			timer.Reset(s.interval)
			armed = true
		}
	}
}
