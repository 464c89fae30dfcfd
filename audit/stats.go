package audit

import (
	"os"
	"time"
)

// IOObserver, set in [FileOptions], is told how long each write(2) and
// fsync of the log took (monitoring: internal/metrics). It is called on
// the sink's writer goroutine and must return at once.
type IOObserver interface {
	ObserveWrite(d time.Duration)
	ObserveSync(d time.Duration)
}

// SinkStats are a FileSink's running figures, for monitoring.
type SinkStats struct {
	// Records is how many records were chained into the log since the sink
	// opened: written, or being written (a record the file later loses
	// counts in Dropped as well).
	Records uint64
	// Dropped is [FileSink.Dropped].
	Dropped uint64
	// Failures is how many times the sink started failing (an outage
	// counts once, however many retries fail).
	Failures uint64
	// PendingBytes are encoded records and chained lines the writer holds
	// but has not written yet; QueuedRecords are records handed over by
	// Handle that the writer has not taken yet. Both grow while the file
	// cannot be written.
	PendingBytes  int64
	QueuedRecords int
	// Err is [FileSink.Err]: nil while the log can be written.
	Err error
}

// Stats returns the sink's figures. It only reads atomics and is safe to
// call at any time from any goroutine.
func (s *FileSink) Stats() SinkStats {
	return SinkStats{
		Records:       s.records.Load(),
		Dropped:       s.dropped.Load(),
		Failures:      s.failures.Load(),
		PendingBytes:  s.pending.Load(),
		QueuedRecords: len(s.lines),
		Err:           s.Err(),
	}
}

// observed wraps the write and sync hooks with o's timers.
func (h hooks) observed(o IOObserver) hooks {
	if o == nil {
		return h
	}
	write, sync := h.write, h.sync
	h.write = func(f *os.File, b []byte) (int, error) {
		t := time.Now()
		n, err := write(f, b)
		o.ObserveWrite(time.Since(t))
		return n, err
	}
	h.sync = func(f *os.File) error {
		t := time.Now()
		err := sync(f)
		o.ObserveSync(time.Since(t))
		return err
	}
	return h
}
