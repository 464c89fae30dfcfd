package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// Server CPU per request. On a shared, noisy machine the throughput of a
// run moves with whatever else runs, but the CPU time a server spends per
// request moves much less: it is the cost of the work itself. With --pid
// and --baseline-pid, kmsbench reads each server's CPU time (user + system,
// all threads, from /proc/<pid>/stat) at the start and the end of every
// measured window and reports µs of server CPU per successful request, and
// kmsnode's as a ratio to the baseline's: how much more work a kmsnode
// request is than the HTTP stack's minimum.

// clockTick is Linux's USER_HZ: /proc/<pid>/stat counts in 1/100 s on every
// architecture Go supports, so a 3 s window at one core is 300 ticks.
const clockTick = 10 * time.Millisecond

// cpuTime returns the user + system CPU time of the processes, summed.
func cpuTime(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return 0, err
		}
		d, err := parseStatCPU(b)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		total += d
	}
	return total, nil
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) is in parentheses and may hold spaces, so
// fields are counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command field")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command", len(f))
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime/stime are not numbers")
	}
	// About 2900 years of CPU time in ticks overflows a Duration.
	const maxTicks = uint64(math.MaxInt64 / int64(clockTick))
	if u > maxTicks || s > maxTicks-u {
		return 0, fmt.Errorf("utime/stime out of range")
	}
	return time.Duration(u+s) * clockTick, nil
}

// cpuWindow samples the CPU time of pids at from and at until and returns a
// function that waits for the second sample and returns the difference
// (0 and no error when pids is empty).
func cpuWindow(ctx context.Context, pids []int, from, until time.Time) func() (time.Duration, error) {
	if len(pids) == 0 {
		return func() (time.Duration, error) { return 0, nil }
	}
	type result struct {
		d   time.Duration
		err error
	}
	ch := make(chan result, 1)
	go func() {
		sample := func(at time.Time) (time.Duration, error) {
			t := time.NewTimer(time.Until(at))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-t.C:
			}
			return cpuTime(pids)
		}
		a, err := sample(from)
		if err != nil {
			ch <- result{err: err}
			return
		}
		b, err := sample(until)
		ch <- result{b - a, err}
	}()
	return func() (time.Duration, error) {
		r := <-ch
		return r.d, r.err
	}
}
