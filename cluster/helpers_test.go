package cluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/fsm"
)

// Timings of the test clusters: a short lease so expiry is observable, and
// short Raft timeouts so a single voter elects itself in 100–200 ms.
const (
	testLease   = 300 * time.Millisecond
	testRaftTO  = 100 * time.Millisecond
	waitTimeout = 10 * time.Second // generous: -race on a busy 2-CPU box
)

func testConfig(t testing.TB, dir string) cluster.Config {
	t.Helper()
	return cluster.Config{
		NodeID:           "node-1",
		DataDir:          dir,
		Lease:            testLease,
		HeartbeatTimeout: testRaftTO,
		ElectionTimeout:  testRaftTO,
	}
}

// open starts a cluster over dir and closes it when the test ends (Close is
// idempotent, so tests may close it themselves).
func open(t testing.TB, cfg cluster.Config, f *fsm.FSM) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Open(cfg, f)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// openReady opens a cluster and waits until it leads and holds a lease.
func openReady(t testing.TB, cfg cluster.Config, f *fsm.FSM) *cluster.Cluster {
	t.Helper()
	c := open(t, cfg, f)
	waitReady(t, c)
	return c
}

func waitReady(t testing.TB, c *cluster.Cluster) {
	t.Helper()
	waitFor(t, "leadership and a read lease", func() bool {
		return c.IsLeader() && c.ReadReady() == nil
	})
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// waitClosed waits for ch to be closed (a task's signal), with a deadline.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var ridSeq atomic.Int64

// req is a command header with a request ID unique to this test binary.
func req(t testing.TB) fsm.Req {
	return fsm.Req{ID: fmt.Sprintf("%s/%d", t.Name(), ridSeq.Add(1)), At: time.Now().UnixMilli()}
}

// testKey is an Enabled symmetric key with one material version.
func testKey(id string) fsm.Key {
	now := time.Now().UnixMilli()
	return fsm.Key{
		ID:        id,
		CreatedAt: now,
		Usage:     "ENCRYPT_DECRYPT",
		Spec:      "SYMMETRIC_DEFAULT",
		Origin:    "AWS_KMS",
		Manager:   "CUSTOMER",
		State:     fsm.StateEnabled,
		Policy:    `{"Version":"2012-10-17","Statement":[]}`,
		Materials: []fsm.Material{{Version: 1, Sealed: []byte("sealed:" + id), CreatedAt: now}},
	}
}

func createKey(t testing.TB, id string) *fsm.CreateKey {
	return &fsm.CreateKey{Req: req(t), Key: testKey(id)}
}

// mustApply applies cmd and fails the test on any error.
func mustApply(t testing.TB, c *cluster.Cluster, cmd fsm.Command) {
	t.Helper()
	if err := c.Apply(ctxTimeout(t, waitTimeout), cmd); err != nil {
		t.Fatalf("Apply %T: %v", cmd, err)
	}
}

func keyState(f *fsm.FSM, id string) string {
	k, ok := f.Key(id)
	if !ok {
		return ""
	}
	return k.State
}
