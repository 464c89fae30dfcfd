package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsnode/kmsnode/api/wire"
)

// fillSpec is what to create.
type fillSpec struct {
	Keys        int
	Versions    int
	Concurrency int
	Description string
	Progress    time.Duration
}

// failure is one type of failed call: how many, and a sample message.
type failure struct {
	Type   string `json:"type"`
	Count  int64  `json:"count"`
	Sample string `json:"sample"`
}

// summary is the result of a fill, as printed and written with --json.
type summary struct {
	Tool        string    `json:"tool"`
	Endpoint    string    `json:"endpoint"`
	Keys        int       `json:"keys_requested"`
	Versions    int       `json:"versions_per_key"`
	Concurrency int       `json:"concurrency"`
	Started     time.Time `json:"started"`

	KeysCreated  int64 `json:"keys_created"`
	KeysComplete int64 `json:"keys_complete"` // with all their versions
	// VersionsCreated counts material versions: one per created key plus
	// one per rotation.
	VersionsCreated int64     `json:"versions_created"`
	CreateKeyCalls  int64     `json:"createkey_ok"`
	RotateCalls     int64     `json:"rotate_ok"`
	Writes          int64     `json:"writes_ok"` // successful calls, one Raft entry each
	Retries         int64     `json:"retries"`
	Failed          int64     `json:"failed"`
	Failures        []failure `json:"failures"`
	ElapsedSec      float64   `json:"elapsed_s"`
	WritesPerSec    float64   `json:"writes_per_s"`
	KeysPerSec      float64   `json:"keys_per_s"`
	Interrupted     bool      `json:"interrupted"`
	// FirstKeyID and LastKeyID are the first and the last key to be
	// completed (for a check after a restart: the last one most likely
	// lives in the Raft log rather than in a snapshot).
	FirstKeyID string `json:"first_key_id,omitempty"`
	LastKeyID  string `json:"last_key_id,omitempty"`
}

// filler runs the workers and keeps the counters.
type filler struct {
	c    *client
	spec fillSpec

	next                                   atomic.Int64
	created, complete, versions            atomic.Int64
	createOK, rotateOK, retries, failedCnt atomic.Int64

	mu       sync.Mutex
	failures map[string]*failure
	first    string
	last     string
}

func fill(ctx context.Context, c *client, spec fillSpec, progress io.Writer) *summary {
	f := &filler{c: c, spec: spec, failures: map[string]*failure{}}
	s := &summary{Tool: "kmsfill", Endpoint: c.url[:len(c.url)-1], Keys: spec.Keys, Versions: spec.Versions,
		Concurrency: spec.Concurrency, Started: time.Now().UTC()}
	start := time.Now()

	done := make(chan struct{})
	var pwg sync.WaitGroup
	if spec.Progress > 0 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			f.report(progress, start, done)
		}()
	}
	var wg sync.WaitGroup
	for range spec.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.worker(ctx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	pwg.Wait()

	s.KeysCreated, s.KeysComplete, s.VersionsCreated = f.created.Load(), f.complete.Load(), f.versions.Load()
	s.CreateKeyCalls, s.RotateCalls = f.createOK.Load(), f.rotateOK.Load()
	s.Writes = s.CreateKeyCalls + s.RotateCalls
	s.Retries, s.Failed = f.retries.Load(), f.failedCnt.Load()
	s.ElapsedSec = elapsed.Seconds()
	if elapsed > 0 {
		s.WritesPerSec = float64(s.Writes) / elapsed.Seconds()
		s.KeysPerSec = float64(s.KeysComplete) / elapsed.Seconds()
	}
	s.Interrupted = ctx.Err() != nil
	s.FirstKeyID, s.LastKeyID = f.first, f.last
	s.Failures = []failure{}
	for _, fl := range f.failures {
		s.Failures = append(s.Failures, *fl)
	}
	sort.Slice(s.Failures, func(i, j int) bool {
		if s.Failures[i].Count != s.Failures[j].Count {
			return s.Failures[i].Count > s.Failures[j].Count
		}
		return s.Failures[i].Type < s.Failures[j].Type
	})
	return s
}

// worker creates keys until the counter passes spec.Keys or ctx ends.
func (f *filler) worker(ctx context.Context) {
	for ctx.Err() == nil {
		if f.next.Add(1) > int64(f.spec.Keys) {
			return
		}
		var cr wire.CreateKeyResponse
		r, err := f.c.call(ctx, "CreateKey", wire.CreateKeyRequest{Description: f.spec.Description}, &cr)
		f.retries.Add(int64(r))
		if err == nil && (cr.KeyMetadata == nil || cr.KeyMetadata.KeyId == "") {
			err = &callError{Type: "bad answer", Msg: "CreateKey answered no KeyMetadata.KeyId"}
		}
		if err != nil {
			f.fail(ctx, "CreateKey", err)
			continue
		}
		f.createOK.Add(1)
		f.created.Add(1)
		f.versions.Add(1)
		id := cr.KeyMetadata.KeyId
		ok := true
		for v := 2; v <= f.spec.Versions; v++ {
			r, err := f.c.call(ctx, "RotateKeyOnDemand", wire.RotateKeyOnDemandRequest{KeyId: id}, nil)
			f.retries.Add(int64(r))
			if err != nil {
				f.fail(ctx, "RotateKeyOnDemand", err)
				ok = false
				break
			}
			f.rotateOK.Add(1)
			f.versions.Add(1)
		}
		if ok {
			f.complete.Add(1)
			f.mu.Lock()
			if f.first == "" {
				f.first = id
			}
			f.last = id
			f.mu.Unlock()
		}
	}
}

// fail counts a failed call, unless it failed because of an interrupt.
func (f *filler) fail(ctx context.Context, op string, err error) {
	if ctx.Err() != nil {
		return
	}
	f.failedCnt.Add(1)
	typ, msg := "error", err.Error()
	if ce, ok := err.(*callError); ok {
		typ, msg = ce.Type, ce.Msg
	}
	typ = op + ": " + typ
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.failures[typ]
	if fl == nil {
		fl = &failure{Type: typ, Sample: msg}
		f.failures[typ] = fl
	}
	fl.Count++
}

// report prints progress every spec.Progress until done is closed.
func (f *filler) report(w io.Writer, start time.Time, done <-chan struct{}) {
	t := time.NewTicker(f.spec.Progress)
	defer t.Stop()
	total := int64(f.spec.Keys) * int64(f.spec.Versions)
	var prevWrites int64
	prevAt := start
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			writes := f.createOK.Load() + f.rotateOK.Load()
			rate := float64(writes-prevWrites) / now.Sub(prevAt).Seconds()
			avg := float64(writes) / now.Sub(start).Seconds()
			prevWrites, prevAt = writes, now
			eta := "?"
			if avg > 0 {
				eta = (time.Duration(float64(total-f.versions.Load())/avg) * time.Second).Round(time.Second).String()
			}
			fmt.Fprintf(w, "kmsfill: %6s  keys %d/%d  versions %d/%d (%.1f%%)  %.0f writes/s (avg %.0f)  eta %s  retries %d  failed %d\n",
				now.Sub(start).Round(time.Second), f.created.Load(), f.spec.Keys, f.versions.Load(), total,
				100*float64(f.versions.Load())/float64(max(total, 1)), rate, avg, eta, f.retries.Load(), f.failedCnt.Load())
		}
	}
}

// writeSummary prints s for people.
func writeSummary(w io.Writer, s *summary) {
	fmt.Fprintf(w, "kmsfill: %d keys × %d versions, %d workers, %s\n", s.Keys, s.Versions, s.Concurrency, s.Endpoint)
	fmt.Fprintf(w, "  keys created      %d of %d (%d with all %d versions)\n", s.KeysCreated, s.Keys, s.KeysComplete, s.Versions)
	fmt.Fprintf(w, "  versions created  %d of %d\n", s.VersionsCreated, int64(s.Keys)*int64(s.Versions))
	fmt.Fprintf(w, "  writes            %d (CreateKey %d, RotateKeyOnDemand %d), retries %d\n", s.Writes, s.CreateKeyCalls, s.RotateCalls, s.Retries)
	fmt.Fprintf(w, "  elapsed           %.1f s\n", s.ElapsedSec)
	fmt.Fprintf(w, "  rate              %.0f writes/s, %.1f keys/s\n", s.WritesPerSec, s.KeysPerSec)
	fmt.Fprintf(w, "  failed calls      %d\n", s.Failed)
	for _, fl := range s.Failures {
		fmt.Fprintf(w, "    %8d  %s\n              e.g. %s\n", fl.Count, fl.Type, fl.Sample)
	}
	if s.Interrupted {
		fmt.Fprintf(w, "  interrupted before the end\n")
	}
	if s.LastKeyID != "" {
		fmt.Fprintf(w, "  last key          %s\n", s.LastKeyID)
	}
}
