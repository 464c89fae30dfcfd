package audit

import (
	"sync/atomic"
	"testing"
	"time"
)

// countingObserver counts the writes and fsyncs a sink reports.
type countingObserver struct{ writes, syncs atomic.Int64 }

func (o *countingObserver) ObserveWrite(d time.Duration) {
	if d >= 0 {
		o.writes.Add(1)
	}
}

func (o *countingObserver) ObserveSync(d time.Duration) {
	if d >= 0 {
		o.syncs.Add(1)
	}
}

// TestFileSinkStats: the figures follow a write outage: records are
// counted once chained, pending bytes grow while the file cannot be
// written and fall to zero after, an outage counts as one failure however
// many retries fail, and the observer sees every write and fsync, the
// failing ones too.
func TestFileSinkStats(t *testing.T) {
	opts, _ := fastOptions(t, "")
	obs := &countingObserver{}
	opts.Observer = obs
	var ff faultyFile
	s, err := openFile(opts, ff.hooks())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	handle(t, s, 0, 5)
	eventually(t, "5 records chained and synced", func() bool {
		st := s.Stats()
		return st.Records == 5 && st.PendingBytes == 0 && obs.syncs.Load() > 0
	})
	if st := s.Stats(); st.Failures != 0 || st.Err != nil || st.Dropped != 0 {
		t.Fatalf("healthy sink: %+v", st)
	}
	if obs.writes.Load() == 0 {
		t.Fatal("no write observed")
	}

	ff.failWrite.Store(true)
	handle(t, s, 5, 10)
	eventually(t, "the failure shows with pending bytes", func() bool {
		st := s.Stats()
		return st.Err != nil && st.PendingBytes > 0
	})
	writes := obs.writes.Load()
	eventually(t, "the writer retries", func() bool { return obs.writes.Load() > writes+2 })
	if st := s.Stats(); st.Failures != 1 {
		t.Errorf("failures during one outage = %d, want 1", st.Failures)
	}

	ff.failWrite.Store(false)
	eventually(t, "the sink recovers and writes everything", func() bool {
		st := s.Stats()
		return st.Err == nil && st.PendingBytes == 0 && st.Records == 10
	})
	ff.failSync.Store(true)
	handle(t, s, 10, 11)
	eventually(t, "an fsync failure is a second outage", func() bool { return s.Stats().Failures == 2 })
	ff.failSync.Store(false)
	eventually(t, "recovered again", func() bool { return s.Stats().Err == nil })
}
