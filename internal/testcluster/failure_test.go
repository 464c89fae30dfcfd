package testcluster

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// A 5-node region loses two nodes and carries on; losing a third stops
// writes with a retryable error and crypto within Δ; nothing is corrupted
// and the region recovers when the nodes return.
func TestRegion_FiveNodesQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("5-node region")
	}
	const lease = time.Second
	r := Start(t, 5)
	leader := r.Leader()
	key := createKey(t, leader)
	fs := r.Followers()
	fs[0].Isolate(true)
	fs[0].Stop()
	fs[1].Isolate(true)
	fs[1].Stop()
	// Two lost: writes and crypto go on through every remaining node.
	for _, n := range r.Running() {
		k := createKey(t, n)
		testnode.Eventually(t, 10*time.Second, "crypto on "+n.ID, func() bool { return encrypt(n, k) == nil && encrypt(n, key) == nil })
	}

	// Three lost: cut the leader off, the two left have no quorum.
	lost := r.Leader()
	lost.Isolate(true)
	lostAt := time.Now()
	var rest []*Node
	for _, n := range r.Running() {
		if n != lost {
			rest = append(rest, n)
		}
	}
	for _, n := range rest {
		testnode.Eventually(t, 10*time.Second, "crypto stops on "+n.ID, func() bool {
			return errCode(encrypt(n, key)) == "DependencyTimeoutException"
		})
	}
	// Each node stops at most Δ after its last renewal, which was sent
	// before the loss; polling and two sequential probes add a little.
	stoppedAfter := time.Since(lostAt)
	if stoppedAfter > lease+time.Second {
		t.Errorf("crypto went on for %v after quorum loss (Δ=%v)", stoppedAfter, lease)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := rest[0].Client.CreateKey(ctx, &awskms.CreateKeyInput{})
	if code := errCode(err); code != "DependencyTimeoutException" {
		t.Fatalf("CreateKey without quorum = %v, want DependencyTimeoutException", err)
	}
	t.Logf("crypto stopped within %v of quorum loss; a write without quorum failed after %v", stoppedAfter, time.Since(start))

	// The nodes come back: the region recovers with one state everywhere.
	lost.Isolate(false)
	fs[0].Restart()
	fs[1].Restart()
	r.Leader()
	k := createKey(t, rest[0])
	for _, n := range r.Running() {
		testnode.Eventually(t, 20*time.Second, "crypto on "+n.ID+" after recovery", func() bool { return encrypt(n, k) == nil && encrypt(n, key) == nil })
	}
	waitDigests(t, r)
}

// A node stopped while the region moves past its trailing logs catches up
// by snapshot on restart and reaches the same state.
func TestRegion_SnapshotCatchUp(t *testing.T) {
	r := Start(t, 3, func(c *node.Config) {
		c.SnapshotThreshold = 16
		c.TrailingLogs = 4
	})
	leader := r.Leader()
	behind := r.Followers()[0]
	behind.Stop()
	var keys []string
	for range 40 {
		keys = append(keys, createKey(t, leader))
	}
	// Compact every running node's log (whichever leads when the node
	// returns must have dropped the entries it missed).
	for _, n := range r.Running() {
		if err := n.Cluster().Snapshot(); err != nil {
			t.Fatalf("snapshot on %s: %v", n.ID, err)
		}
	}
	behind.Restart()
	d := waitDigests(t, r)
	// Raft records the installed snapshot once the FSM's Restore returned,
	// which can be a moment after the restored state became visible.
	var stats map[string]string
	testnode.Eventually(t, 10*time.Second, "the restarted node records an installed snapshot", func() bool {
		stats = behind.Cluster().Stats()
		idx, _ := strconv.Atoi(stats["last_snapshot_index"])
		return idx > 0
	})
	for _, k := range keys[len(keys)-3:] {
		testnode.Eventually(t, 10*time.Second, "the caught-up node serves "+k, func() bool { return encrypt(behind, k) == nil })
	}
	t.Logf("digest %s on every node", d[:16])
}

// A leader lost mid-traffic: crypto at the other nodes continues through the
// election while their leases last, and writes resume through any node.
func TestRegion_LeaderLoss(t *testing.T) {
	r := Start(t, 3, func(c *node.Config) { c.Lease = 3 * time.Second })
	old := r.Leader()
	key := createKey(t, old)
	fs := r.Followers()
	for _, n := range fs {
		testnode.Eventually(t, 10*time.Second, "crypto on "+n.ID, func() bool { return encrypt(n, key) == nil })
	}
	stop := make(chan struct{})
	failures := make(chan error, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := encrypt(fs[i%2], key); err != nil {
				select {
				case failures <- err:
				default:
				}
			}
		}
	}()
	lostAt := time.Now()
	old.Isolate(true) // crashed, as far as its peers can tell
	old.Stop()
	var resumed time.Duration
	testnode.Eventually(t, 30*time.Second, "writes resume", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := fs[0].Client.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("after")})
		resumed = time.Since(lostAt)
		return err == nil
	})
	close(stop)
	<-done
	close(failures)
	n := 0
	for err := range failures {
		n++
		t.Errorf("crypto failed during the failover: %v", err)
	}
	t.Logf("writes resumed %v after the leader was lost; %d failed crypto requests", resumed, n)
}
