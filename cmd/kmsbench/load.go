package main

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// loadSpec is one run: one target, one operation, C workers. Worker i
// sends to the target's endpoint i mod n.
type loadSpec struct {
	Target      *target
	Request     *request
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
}

// runStats is the raw result of one run.
type runStats struct {
	Elapsed   time.Duration   // the measured window
	Latencies []time.Duration // sorted, successful requests only
	Errors    errorCounts
}

// workerStats is what one worker collected; only that worker writes it.
type workerStats struct {
	lat  []time.Duration
	errs errorCounts
}

// runLoad runs C closed-loop workers against the target: a warm-up that is
// not recorded, then the measured window. A request is counted when it
// completes inside the window.
func runLoad(ctx context.Context, c *client, s loadSpec) runStats {
	// Every run starts from cold connections; the warm-up opens them.
	c.tr.CloseIdleConnections()
	start := time.Now()
	from := start.Add(s.Warmup)
	until := from.Add(s.Duration)
	workers := make([]workerStats, s.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { workers[i] = worker(ctx, c, s, s.Target.urlFor(i), from, until) })
	}
	wg.Wait()

	res := runStats{Elapsed: s.Duration, Errors: errorCounts{}}
	lats := make([][]time.Duration, len(workers))
	for i, w := range workers {
		lats[i] = w.lat
		res.Errors.merge(w.errs)
	}
	res.Latencies = mergeLatencies(lats)
	return res
}

func worker(ctx context.Context, c *client, s loadSpec, url string, from, until time.Time) workerStats {
	// Expect a few thousand requests per worker and second at most; the
	// slice grows if there are more.
	w := workerStats{lat: make([]time.Duration, 0, 4096), errs: errorCounts{}}
	var buf bytes.Buffer
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(until) {
			break
		}
		req, err := c.sign(ctx, url, s.Request, now)
		if err != nil {
			w.errs.add("client: signing", err.Error(), 1)
			break
		}
		sent := time.Now()
		o := c.send(req, &buf)
		done := time.Now()
		if done.Before(from) || !done.Before(until) {
			continue // warm-up, or past the window
		}
		if o.ok {
			w.lat = append(w.lat, done.Sub(sent))
		} else {
			w.errs.add(o.typ, o.msg, 1)
		}
	}
	return w
}
