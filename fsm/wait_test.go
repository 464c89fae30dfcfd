package fsm

import (
	"context"
	"testing"
	"time"
)

func TestWaitApplied(t *testing.T) {
	f := New()
	// Already reached.
	if !f.WaitApplied(context.Background(), 0, time.Now().Add(time.Second)) {
		t.Fatal("index 0 not reached on a new FSM")
	}
	// Woken by Apply, long before the deadline.
	done := make(chan bool)
	go func() { done <- f.WaitApplied(context.Background(), 2, time.Now().Add(time.Minute)) }()
	mustApply(t, f, createKey(benchKeyID(1)))
	mustApply(t, f, createKey(benchKeyID(2)))
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("WaitApplied(2) = false after index 2 was applied")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitApplied(2) still waiting after index 2 was applied")
	}
	// The deadline ends a wait for an index that never comes.
	if f.WaitApplied(context.Background(), 99, time.Now().Add(20*time.Millisecond)) {
		t.Fatal("WaitApplied(99) = true")
	}
	// So does the context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if f.WaitApplied(ctx, 99, time.Now().Add(time.Minute)) {
		t.Fatal("WaitApplied(99) with a cancelled context = true")
	}
	// Restore publishes its index too.
	g := New()
	go func() { done <- g.WaitApplied(context.Background(), 2, time.Now().Add(time.Minute)) }()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := restore(g, persist(t, snap)); err != nil {
		t.Fatal(err)
	}
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("WaitApplied(2) = false after restoring a snapshot at index 2")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitApplied(2) still waiting after restoring a snapshot at index 2")
	}
}
