package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/fsm"
)

func TestOpenBootstrapsEmptyDir(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	c := openReady(t, cfg, fsm.New())

	if rem := c.LeaseRemaining(); rem <= 0 || rem > cfg.Lease {
		t.Errorf("LeaseRemaining = %v, want in (0, %v]", rem, cfg.Lease)
	}
	if st := c.Stats()["state"]; st != "Leader" {
		t.Errorf("Stats()[state] = %q, want Leader", st)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft", "raft.db")); err != nil {
		t.Errorf("log store not created: %v", err)
	}
	// The region's only voter is this node.
	if got := c.Stats()["num_peers"]; got != "0" {
		t.Errorf("Stats()[num_peers] = %q, want 0", got)
	}
}

func TestRenewLeaseOnLeader(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	c := openReady(t, cfg, fsm.New())
	if err := c.RenewLease(ctxTimeout(t, waitTimeout)); err != nil {
		t.Fatalf("RenewLease: %v", err)
	}
	// A caught-up leader with a valid lease answers at once (its state already
	// holds every acknowledged write); the lease stays valid and never runs
	// longer than Δ from a renewal.
	if rem := c.LeaseRemaining(); rem <= 0 || rem > cfg.Lease {
		t.Errorf("LeaseRemaining after RenewLease = %v, want in (0, %v]", rem, cfg.Lease)
	}
	if err := c.ReadReady(); err != nil {
		t.Errorf("ReadReady after RenewLease: %v", err)
	}
}

// An idle leader renews its lease without writing to the Raft log: after the
// first barrier of its term, renewals are VerifyLeader rounds.
func TestIdleLeaderWritesNoLog(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	f := fsm.New()
	c := openReady(t, cfg, f)
	// A new region's leader writes one SetLevel (level.go); idle starts
	// after it.
	waitFor(t, "the command level is raised", func() bool { return f.Level() == fsm.MaxLevel })
	last := func() string { return c.Stats()["last_log_index"] }
	before := last()
	// Several lease periods, each with 4 renewals.
	deadline := time.Now().Add(4 * cfg.Lease)
	for time.Now().Before(deadline) {
		if err := c.ReadReady(); err != nil {
			t.Fatalf("lease lapsed while idle: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // sampling interval, not synchronisation
	}
	if after := last(); after != before {
		t.Fatalf("idle leader appended to its log: last index %s → %s", before, after)
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	f := fsm.New()
	c := openReady(t, testConfig(t, t.TempDir()), f)
	ctx := ctxTimeout(t, waitTimeout)

	t.Run("valid command is applied", func(t *testing.T) {
		mustApply(t, c, createKey(t, "key-a"))
		// Apply returns after the FSM applied the entry: visible at once.
		if got := keyState(f, "key-a"); got != fsm.StateEnabled {
			t.Fatalf("key-a state = %q, want %q", got, fsm.StateEnabled)
		}
		mustApply(t, c, &fsm.DisableKey{Req: req(t), KeyID: "key-a"})
		if got := keyState(f, "key-a"); got != fsm.StateDisabled {
			t.Fatalf("key-a state = %q, want %q", got, fsm.StateDisabled)
		}
	})

	t.Run("rejections are returned", func(t *testing.T) {
		err := c.Apply(ctx, &fsm.DisableKey{Req: req(t), KeyID: "missing"})
		if !errors.Is(err, fsm.ErrKeyNotFound) {
			t.Fatalf("DisableKey(missing) = %v, want ErrKeyNotFound", err)
		}
		var se *fsm.StateError
		if !errors.As(err, &se) || se.Subject != "missing" {
			t.Errorf("DisableKey(missing) = %#v, want *fsm.StateError for subject %q", err, "missing")
		}
		mustApply(t, c, createKey(t, "key-b"))
		if err := c.Apply(ctx, createKey(t, "key-b")); !errors.Is(err, fsm.ErrConflict) {
			t.Errorf("CreateKey(existing) = %v, want ErrConflict", err)
		}
		if err := c.Apply(ctx, &fsm.DeleteAlias{Req: req(t), Name: "alias/none"}); !errors.Is(err, fsm.ErrAliasNotFound) {
			t.Errorf("DeleteAlias(missing) = %v, want ErrAliasNotFound", err)
		}
		if err := c.Apply(ctx, &fsm.CreateKey{Req: req(t)}); !errors.Is(err, fsm.ErrBadCommand) {
			t.Errorf("CreateKey(no ID) = %v, want ErrBadCommand", err)
		}
		// A rejection is a deterministic answer, not a cluster failure.
		for _, e := range []error{cluster.ErrNoLeader, cluster.ErrNoLease, cluster.ErrClosed} {
			if errors.Is(err, e) {
				t.Errorf("rejection %v also matches %v", err, e)
			}
		}
	})

	t.Run("same request ID changes state once", func(t *testing.T) {
		mustApply(t, c, createKey(t, "key-c"))
		// An on-demand rotation must name version current+1, so a second
		// *execution* would be rejected (ErrConflict) and a second success
		// could only come from a double apply. A retry with the same ID must
		// get the first answer (nil) and leave one new version.
		rot := &fsm.RotateKey{Req: req(t), KeyID: "key-c", Material: fsm.Material{
			Version: 2, Sealed: []byte("v2"), CreatedAt: time.Now().UnixMilli(), RotationType: fsm.RotationOnDemand,
		}}
		for i := range 2 {
			if err := c.Apply(ctx, rot); err != nil {
				t.Fatalf("RotateKey attempt %d: %v", i+1, err)
			}
		}
		k, _ := f.Key("key-c")
		if len(k.Materials) != 2 || k.Rotation.OnDemandCount != 1 {
			t.Errorf("after retried rotation: %d materials, OnDemandCount %d; want 2 and 1", len(k.Materials), k.Rotation.OnDemandCount)
		}

		// Retried CreateKey: the retry answers nil (not ErrConflict), one key.
		ck := createKey(t, "key-d")
		before := f.KeyCount()
		for i := range 2 {
			if err := c.Apply(ctx, ck); err != nil {
				t.Fatalf("CreateKey attempt %d: %v", i+1, err)
			}
		}
		if got := f.KeyCount(); got != before+1 {
			t.Errorf("KeyCount = %d after retried create, want %d", got, before+1)
		}

		// A retried rejection repeats the rejection even once it would now
		// succeed: the first answer is the answer.
		dk := &fsm.DisableKey{Req: req(t), KeyID: "key-e"}
		if err := c.Apply(ctx, dk); !errors.Is(err, fsm.ErrKeyNotFound) {
			t.Fatalf("DisableKey(key-e) = %v, want ErrKeyNotFound", err)
		}
		mustApply(t, c, createKey(t, "key-e"))
		if err := c.Apply(ctx, dk); !errors.Is(err, fsm.ErrKeyNotFound) {
			t.Errorf("retried DisableKey = %v, want the recorded ErrKeyNotFound", err)
		}
		if got := keyState(f, "key-e"); got != fsm.StateEnabled {
			t.Errorf("key-e state = %q, want %q (retry must not execute)", got, fsm.StateEnabled)
		}
	})
}

func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	f := fsm.New()
	c := openReady(t, testConfig(t, t.TempDir()), f)
	ctx := ctxTimeout(t, waitTimeout)
	const n = 40
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- c.Apply(ctx, createKey(t, fmt.Sprintf("key-%02d", i))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Apply: %v", err)
		}
	}
	if got := f.KeyCount(); got != n {
		t.Errorf("KeyCount = %d, want %d", got, n)
	}
}

// ApplyRevoking on a single voter must not hold for Δ: the only lease holder
// is this node, whose FSM applied the change before Apply returned.
//
// The check is behavioural rather than a stopwatch: Δ is 10 s (the maximum)
// and the call gets a context that ends after 3 s. The hold branch returns
// ctx.Err() when the context ends first, so a nil answer proves the hold was
// skipped, whatever the machine's speed; and the change is visible at once.
func TestApplyRevokingSingleVoterSkipsHold(t *testing.T) {
	t.Parallel()
	f := fsm.New()
	cfg := testConfig(t, t.TempDir())
	cfg.Lease = 10 * time.Second
	c := openReady(t, cfg, f)
	mustApply(t, c, createKey(t, "key-a"))
	mustApply(t, c, createKey(t, "key-b"))

	const budget = 3 * time.Second // < Δ
	ctx := ctxTimeout(t, budget)
	if err := c.ApplyRevoking(ctx, &fsm.DisableKey{Req: req(t), KeyID: "key-a"}); err != nil {
		t.Fatalf("ApplyRevoking(DisableKey) = %v, want nil within %v (< Δ = %v)", err, budget, cfg.Lease)
	}
	if got := keyState(f, "key-a"); got != fsm.StateDisabled {
		t.Errorf("key-a state = %q right after ApplyRevoking, want %q", got, fsm.StateDisabled)
	}

	ctx = ctxTimeout(t, budget)
	sd := &fsm.ScheduleDeletion{Req: req(t), KeyID: "key-b", WindowDays: 7, DeletionDate: time.Now().Add(7 * 24 * time.Hour).UnixMilli()}
	if err := c.ApplyRevoking(ctx, sd); err != nil {
		t.Fatalf("ApplyRevoking(ScheduleDeletion) = %v, want nil within %v", err, budget)
	}
	if got := keyState(f, "key-b"); got != fsm.StatePendingDeletion {
		t.Errorf("key-b state = %q, want %q", got, fsm.StatePendingDeletion)
	}

	// A rejected revocation answers with the rejection, without a hold.
	ctx = ctxTimeout(t, budget)
	if err := c.ApplyRevoking(ctx, &fsm.DisableKey{Req: req(t), KeyID: "missing"}); !errors.Is(err, fsm.ErrKeyNotFound) {
		t.Errorf("ApplyRevoking(missing) = %v, want ErrKeyNotFound", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	c, err := cluster.Open(cfg, fsm.New())
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, c)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if c.IsLeader() {
		t.Error("IsLeader after Close")
	}
	ctx := ctxTimeout(t, waitTimeout)
	if err := c.Apply(ctx, createKey(t, "key-a")); !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("Apply after Close = %v, want ErrClosed", err)
	}
	if err := c.ApplyRevoking(ctx, &fsm.DisableKey{Req: req(t), KeyID: "key-a"}); !errors.Is(err, cluster.ErrClosed) {
		t.Errorf("ApplyRevoking after Close = %v, want ErrClosed", err)
	}
	if err := c.RenewLease(ctx); !errors.Is(err, cluster.ErrNoLease) {
		t.Errorf("RenewLease after Close = %v, want ErrNoLease", err)
	}
	// The lease is no longer renewed: it runs out within Δ.
	waitFor(t, "ReadReady to fail after Close", func() bool {
		return errors.Is(c.ReadReady(), cluster.ErrNoLease)
	})
	if rem := c.LeaseRemaining(); rem != 0 {
		t.Errorf("LeaseRemaining after expiry = %v, want 0", rem)
	}
}

// Close before the node won its first election must not hang or fail.
func TestCloseBeforeLeadership(t *testing.T) {
	t.Parallel()
	c, err := cluster.Open(testConfig(t, t.TempDir()), fsm.New())
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Bool
	c.OnLeader(func(ctx context.Context) { ran.Store(true); <-ctx.Done() })
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.ReadReady(); !errors.Is(err, cluster.ErrNoLease) {
		t.Errorf("ReadReady on a node that never led = %v, want ErrNoLease", err)
	}
}

// Close from several goroutines at once (e.g. a signal handler and a
// deferred Close) must be safe. Close runs its shutdown once (sync.Once).
func TestCloseConcurrent(t *testing.T) {
	t.Parallel()
	for range 20 {
		c, err := cluster.Open(testConfig(t, t.TempDir()), fsm.New())
		if err != nil {
			t.Fatal(err)
		}
		var start, wg sync.WaitGroup
		start.Add(1)
		for range 4 {
			wg.Go(func() { start.Wait(); _ = c.Close() })
		}
		start.Done()
		wg.Wait()
	}
}

func TestOpenDataDirInUse(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	open(t, cfg, fsm.New())
	// The second process would block on bbolt's file lock; Open gives up
	// after its lock timeout with an error node.Start recognises.
	c2, err := cluster.Open(cfg, fsm.New())
	if err == nil {
		c2.Close()
		t.Fatal("second Open of a data dir in use succeeded")
	}
	if !errors.Is(err, bbolt.ErrTimeout) {
		t.Errorf("second Open = %v, want an error wrapping bbolt.ErrTimeout", err)
	}
}

func TestReopenReplaysLog(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	f1 := fsm.New()
	c1 := openReady(t, cfg, f1)
	ck := createKey(t, "key-a")
	mustApply(t, c1, ck)
	mustApply(t, c1, createKey(t, "key-b"))
	mustApply(t, c1, &fsm.DisableKey{Req: req(t), KeyID: "key-b"})
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}

	f2 := fsm.New()
	c2 := open(t, cfg, f2)
	waitFor(t, "replayed keys", func() bool {
		return keyState(f2, "key-a") == fsm.StateEnabled && keyState(f2, "key-b") == fsm.StateDisabled
	})
	if got := f2.KeyCount(); got != 2 {
		t.Errorf("KeyCount after replay = %d, want 2", got)
	}
	waitReady(t, c2)
	ctx := ctxTimeout(t, waitTimeout)
	// The request table was replayed too: a retry from before the restart
	// still gets its first answer.
	if err := c2.Apply(ctx, ck); err != nil {
		t.Errorf("retried CreateKey after restart = %v, want nil", err)
	}
	// And the node takes new writes in its new term.
	mustApply(t, c2, createKey(t, "key-c"))
	if err := c2.Apply(ctx, createKey(t, "key-a")); !errors.Is(err, fsm.ErrConflict) {
		t.Errorf("CreateKey(key-a) with a new request ID = %v, want ErrConflict", err)
	}
}

func TestReopenRestoresSnapshotAndLog(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	f1 := fsm.New()
	c1 := openReady(t, cfg, f1)
	ckA := createKey(t, "key-a")
	mustApply(t, c1, ckA)
	mustApply(t, c1, createKey(t, "key-x"))
	if err := c1.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	// After the snapshot: a new key, a change to a snapshotted key.
	ckB := createKey(t, "key-b")
	mustApply(t, c1, ckB)
	mustApply(t, c1, &fsm.DisableKey{Req: req(t), KeyID: "key-a"})
	due := time.Now().UnixMilli() - 1 // deletion already due
	mustApply(t, c1, &fsm.ScheduleDeletion{Req: req(t), KeyID: "key-x", WindowDays: 7, DeletionDate: due})
	mustApply(t, c1, &fsm.DeleteKey{Req: req(t), KeyID: "key-x"})
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(cfg.DataDir, "raft", "snapshots", "*", "meta.json"))
	if len(snaps) == 0 {
		t.Fatal("no snapshot on disk after Snapshot()")
	}

	f2 := fsm.New()
	c2 := open(t, cfg, f2)
	// The snapshot is restored inside Open; later log entries follow once
	// the node leads (≥ one election timeout later). So key-a is there as
	// soon as Open returns.
	if _, ok := f2.Key("key-a"); !ok {
		t.Error("key-a from the snapshot is missing right after Open")
	}
	waitFor(t, "snapshot + log replay", func() bool {
		_, xGone := f2.Key("key-x")
		return keyState(f2, "key-a") == fsm.StateDisabled && keyState(f2, "key-b") == fsm.StateEnabled && !xGone
	})
	if got := f2.KeyCount(); got != 2 {
		t.Errorf("KeyCount = %d, want 2", got)
	}
	if got := c2.Stats()["last_snapshot_index"]; got == "" || got == "0" {
		t.Errorf("Stats()[last_snapshot_index] = %q after restart, want the snapshot's index", got)
	}
	waitReady(t, c2)
	ctx := ctxTimeout(t, waitTimeout)
	// Request IDs survive both the snapshot (ckA) and the log (ckB).
	for _, ck := range []*fsm.CreateKey{ckA, ckB} {
		if err := c2.Apply(ctx, ck); err != nil {
			t.Errorf("retried CreateKey(%s) after restart = %v, want nil", ck.Key.ID, err)
		}
	}
	if got := f2.KeyCount(); got != 2 {
		t.Errorf("KeyCount after retries = %d, want 2", got)
	}
}

func TestOnLeader(t *testing.T) {
	t.Parallel()
	c, err := cluster.Open(testConfig(t, t.TempDir()), fsm.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	type task struct {
		starts        atomic.Int32
		started, done chan struct{}
		liveAtStart   atomic.Bool
	}
	newTask := func() (*task, func(context.Context)) {
		tk := &task{started: make(chan struct{}), done: make(chan struct{})}
		return tk, func(ctx context.Context) {
			defer close(tk.done)
			tk.liveAtStart.Store(ctx.Err() == nil)
			if tk.starts.Add(1) == 1 {
				close(tk.started)
			}
			<-ctx.Done()
		}
	}

	before, fn := newTask()
	c.OnLeader(fn)
	// An election takes at least one election timeout (100 ms); if this node
	// already leads, the "registered before leadership" case was not tested.
	if c.IsLeader() {
		t.Fatal("node led before the first task was registered; cannot test that case")
	}
	waitClosed(t, before.started, "task registered before leadership to start")
	if !c.IsLeader() {
		t.Error("leader task runs on a node that does not lead")
	}

	after, fn := newTask()
	c.OnLeader(fn)
	waitClosed(t, after.started, "task registered while leading to start")

	for name, tk := range map[string]*task{"before": before, "after": after} {
		if !tk.liveAtStart.Load() {
			t.Errorf("task %s: ctx already cancelled when it started", name)
		}
		select {
		case <-tk.done:
			t.Errorf("task %s returned while the node still leads", name)
		default:
		}
	}

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waits for the tasks: both have returned when it does.
	for name, tk := range map[string]*task{"before": before, "after": after} {
		select {
		case <-tk.done:
		default:
			t.Errorf("task %s still running after Close returned", name)
		}
		if n := tk.starts.Load(); n != 1 {
			t.Errorf("task %s started %d times in one term, want 1", name, n)
		}
	}
}
