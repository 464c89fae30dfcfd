package main

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' inside, as the kernel writes it.
	line := []byte("4242 (kms node) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 9 0 100 0 0\n")
	d, err := parseStatCPU(line)
	if err != nil || d != 380*clockTick {
		t.Fatalf("parseStatCPU = %v, %v; want %v", d, err, 380*clockTick)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 u s", "no paren 1 2 3"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (kmsnode) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStatCPU(b); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

// The window measures this process burning CPU between its two samples.
func TestCPUWindowMeasuresOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	from := time.Now()
	until := from.Add(300 * time.Millisecond)
	wait := cpuWindow(context.Background(), []int{os.Getpid()}, from, until)
	x := 0
	for time.Now().Before(until.Add(50 * time.Millisecond)) {
		x++
	}
	d, err := wait()
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > 2*time.Second {
		t.Errorf("a busy loop of 300ms measured %v of CPU (x=%d)", d, x)
	}
	if _, err := cpuTime([]int{1 << 30}); err == nil {
		t.Error("a process that does not exist has a CPU time")
	}
	if d, err := cpuWindow(context.Background(), nil, from, until)(); d != 0 || err != nil {
		t.Errorf("no pids: %v, %v", d, err)
	}
}
