package audit

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// run is the writer goroutine. It alone chains and writes lines, so they
// reach the file in chain order.
func (s *FileSink) run() {
	defer close(s.done)
	ticker := time.NewTicker(s.cpEvery)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		s.pending.Store(int64(s.queued + len(s.out) - s.outOff)) // for Stats
		var due <-chan time.Time
		if armed {
			due = timer.C
		}
		select {
		case line, ok := <-s.lines:
			if !ok {
				s.finish()
				return
			}
			s.enqueue(line)
			if s.queued >= batchBytes {
				s.flush()
			} else if !armed {
				timer.Reset(s.interval)
				armed = true
			}
		case <-due:
			armed = false
			s.flush()
		case <-ticker.C:
			s.tick()
		}
	}
}

// enqueue keeps an encoded record until it is chained; while the file
// cannot be written the queue is bounded by MaxPending.
func (s *FileSink) enqueue(line *[]byte) {
	if s.queued+len(*line) > s.maxQueue {
		s.dropped.Add(1)
		recycle(line)
		return
	}
	s.queue = append(s.queue, line)
	s.queued += len(*line)
}

func recycle(line *[]byte) {
	if cap(*line) <= 64<<10 {
		linePool.Put(line)
	}
}

// flush chains the queued records and writes them, a batch at a time; it
// stops at the first write error (the rest waits for a retry).
func (s *FileSink) flush() {
	if s.f == nil || !s.writeOut() {
		return
	}
	for len(s.queue) > 0 {
		s.chainBatch()
		if !s.writeOut() {
			return
		}
	}
	s.publish()
}

// chainBatch moves queued records into out, about batchBytes of them,
// sealing each into the chain and adding a checkpoint every
// CheckpointRecords lines.
func (s *FileSink) chainBatch() {
	n := 0
	for _, line := range s.queue {
		if len(s.out) >= batchBytes {
			break
		}
		start := len(s.out)
		s.out = append(s.out, *line...)
		s.out = s.ch.seal(s.out, start)
		s.outLines++
		s.since++
		s.queued -= len(*line)
		recycle(line)
		n++
		if s.since%s.cpLines == 0 { // not every line while the key cannot sign
			s.checkpoint()
		}
	}
	s.records.Add(uint64(n))
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = s.queue[:0:0] // let the backing array go after a backlog
	}
}

// checkpoint appends a signed checkpoint over the chain head to out, if the
// signer can sign now.
func (s *FileSink) checkpoint() {
	if s.signer == nil {
		return
	}
	out, err := s.ch.appendCheckpoint(s.out, time.Now(), s.node, s.region, s.since, s.signer)
	if err != nil {
		if !s.signWarned {
			s.signWarned = true
			s.log.Warn("audit checkpoints are waiting for the audit key", "path", s.path, "err", err)
		}
		return
	}
	s.signWarned = false
	s.out = out
	s.outLines++
	s.since = 0
}

// writeOut writes what is left of out; on an error it keeps the rest (a
// partial line is finished by the retry) and reports false.
func (s *FileSink) writeOut() bool {
	if s.outOff == len(s.out) {
		s.out, s.outOff, s.outLines = s.out[:0], 0, 0
		return true
	}
	if s.hooks.beforeWrite != nil {
		s.hooks.beforeWrite()
	}
	for s.outOff < len(s.out) {
		n, err := s.hooks.write(s.f, s.out[s.outOff:])
		s.outOff += n
		s.size += int64(n)
		if err == nil && n == 0 {
			err = errors.New("short write")
		}
		if err != nil {
			s.fail(fmt.Errorf("audit: write %s: %w", s.path, err))
			return false
		}
	}
	s.out, s.outOff, s.outLines = s.out[:0], 0, 0
	s.unsynced = s.regular // only regular files are fsynced
	return true
}

// tick runs every CheckpointInterval: it follows a moved or removed file,
// writes a checkpoint when lines were added, fsyncs, and clears a failure
// once everything owed is on disk.
func (s *FileSink) tick() {
	if s.regular || s.f == nil {
		s.follow()
	}
	if s.f == nil {
		return
	}
	s.flush()
	if s.since > 0 && len(s.queue) == 0 && s.outOff == len(s.out) {
		s.checkpoint()
		s.writeOut()
	}
	written := len(s.queue) == 0 && s.outOff == len(s.out)
	if s.unsynced && written {
		if err := s.hooks.sync(s.f); err != nil {
			s.fail(fmt.Errorf("audit: fsync %s: %w", s.path, err))
			return
		}
		s.unsynced = false
		s.saveState()
	}
	if written && !s.unsynced {
		s.recovered()
	}
	s.publish()
}

// follow makes sure the open file is still the one at the path. If the
// path now names another file or none (log rotation moved it, someone
// removed it), it finishes the old file and continues the chain in a new
// one, which starts with a header. While the new file cannot be created
// the sink is failing and the records wait in memory.
func (s *FileSink) follow() {
	if s.f != nil {
		st, err := os.Stat(s.path)
		if err == nil && os.SameFile(st, s.fileInfo) {
			if s.regular && st.Size() < s.size {
				// Truncated under us (logrotate's copytruncate): the file
				// must start with a header again. Lines written between
				// the copy and the truncation are lost, and the chain
				// shows it.
				s.log.Warn("the audit file was truncated; continuing the chain after a new header", "path", s.path, "seq", s.ch.seq)
				s.size = st.Size()
				s.appendHeader(0)
				s.writeOut()
			}
			return
		}
		// The old file (renamed, or unlinked but still open) gets what it
		// is owed: a line half-written there can only be finished there.
		if !s.writeOut() {
			lost := s.outLines
			s.dropped.Add(uint64(lost))
			s.log.Error("audit lines lost with the replaced audit file", "path", s.path, "lines", lost)
			s.out, s.outOff, s.outLines = s.out[:0], 0, 0
		}
		if s.regular {
			if err := s.hooks.sync(s.f); err != nil {
				s.log.Error("audit: fsync of the replaced audit file failed", "path", s.path, "err", err)
			}
		}
		s.f.Close()
		s.f = nil
		s.log.Warn("the audit file was moved or removed; continuing the chain in a new file", "path", s.path, "seq", s.ch.seq)
	}
	if _, err := s.open(false); err != nil {
		s.fail(err)
		return
	}
	s.appendHeader(0)
	s.writeOut()
}

// finish runs when Close has closed the queue: it writes every record and
// a last checkpoint, fsyncs and closes the file. What cannot be written is
// counted as dropped.
func (s *FileSink) finish() {
	if s.f == nil {
		s.follow()
	}
	if s.f != nil {
		s.flush()
		if s.since > 0 && len(s.queue) == 0 && s.outOff == len(s.out) {
			s.checkpoint()
			s.writeOut()
		}
		if written := len(s.queue) == 0 && s.outOff == len(s.out); written {
			var err error
			if s.regular {
				err = s.hooks.sync(s.f)
			}
			if err != nil {
				s.fail(fmt.Errorf("audit: fsync %s: %w", s.path, err))
			} else {
				s.saveState()
				s.recovered() // everything is on disk: an earlier failure is over
			}
		}
		if err := s.f.Close(); err != nil && s.Err() == nil {
			s.fail(fmt.Errorf("audit: close %s: %w", s.path, err))
		}
		s.f = nil
	}
	if lost := len(s.queue) + s.outLines; lost > 0 {
		s.dropped.Add(uint64(lost))
		for _, l := range s.queue {
			recycle(l)
		}
		s.queue, s.queued = nil, 0
	}
	s.publish()
}
