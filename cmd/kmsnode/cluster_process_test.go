package main

// A region of three real `kmsnode serve` processes: it forms from the
// operator's certificates, any node serves a key created through another,
// and SIGKILL of the leader costs no crypto request at the other nodes,
// loses no acknowledged write, and the killed node rejoins on its data.

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// clusterLease is the read lease Δ of these regions: longer than a leader
// election (1s heartbeat timeout, then 1–2s to elect), so the followers'
// leases carry them across one.
const clusterLease = 4 * time.Second

func TestClusterProcessesFormRegion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three kmsnode processes")
	}
	t.Parallel()
	r := newRegion(t, 3, "--read-lease", clusterLease.String())
	r.startAll()
	n1, n2, n3 := r.nodes[0], r.nodes[1], r.nodes[2]
	ms := r.waitMembers(n2)
	t.Logf("members: %s", jsonOf(ms))

	ec := map[string]string{"test": "cluster"}
	var ids []string
	for i := range 3 {
		// Created through n1 and used at once through the others: their
		// first read misses and renews the lease to include the write.
		id := createKey(t, n1.client, &awskms.CreateKeyInput{Description: aws.String(fmt.Sprintf("process region %d", i))})
		ids = append(ids, id)
		ct := encryptUnder(t, n2.client, id, id, fmt.Sprintf("via n2 #%d", i), ec)
		decryptOK(t, n3.client, ct)
		ct = encryptUnder(t, n3.client, id, id, fmt.Sprintf("via n3 #%d", i), nil)
		decryptOK(t, n2.client, ct)
		decryptOK(t, n1.client, ct)
	}
	slices.Sort(ids)
	for _, sn := range r.nodes {
		got := keyIDs(t, sn.client)
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			t.Errorf("%s lists keys %v, want %v", sn.id, got, ids)
		}
	}
}

// cryptoStats counts one survivor's Encrypt+Decrypt round trips.
type cryptoStats struct {
	ops, fails atomic.Int64
	mu         sync.Mutex
	errs       []string
	maxLatency time.Duration
}

func (s *cryptoStats) record(start time.Time, err error) {
	s.ops.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxLatency = max(s.maxLatency, time.Since(start))
	if err != nil {
		s.fails.Add(1)
		if len(s.errs) < 10 {
			s.errs = append(s.errs, fmt.Sprintf("%s: %v", start.Format("15:04:05.000"), err))
		}
	}
}

// roundTrip encrypts under keyID and decrypts the result.
func roundTrip(c *awskms.Client, keyID string, pt []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	enc, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: &keyID, Plaintext: pt})
	if err != nil {
		return fmt.Errorf("Encrypt: %w", err)
	}
	dec, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil {
		return fmt.Errorf("Decrypt: %w", err)
	}
	if !bytes.Equal(dec.Plaintext, pt) {
		return fmt.Errorf("Decrypt returned %q, want %q", dec.Plaintext, pt)
	}
	return nil
}

// ack is one acknowledged CreateKey.
type ack struct {
	id         string
	via        string
	start, end time.Time
}

// writeFail is one failed CreateKey.
type writeFail struct {
	via   string
	start time.Time
	took  time.Duration
	err   error
}

func (f writeFail) String() string {
	return fmt.Sprintf("%s via %s after %v: %v", f.start.Format("15:04:05.000"), f.via, f.took.Round(time.Millisecond), f.err)
}

// writeLog is what the writers saw.
type writeLog struct {
	mu    sync.Mutex
	acks  []ack
	fails []writeFail
}

func (w *writeLog) record(via string, start time.Time, id string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.fails = append(w.fails, writeFail{via: via, start: start, took: time.Since(start), err: err})
		return
	}
	w.acks = append(w.acks, ack{id: id, via: via, start: start, end: time.Now()})
}

func (w *writeLog) snapshot() []ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acks)
}

// acksSince counts the writes through via that were sent at or after t0.
func (w *writeLog) acksSince(via string, t0 time.Time) int {
	n := 0
	for _, a := range w.snapshot() {
		if a.via == via && !a.start.Before(t0) {
			n++
		}
	}
	return n
}

func TestClusterProcessesLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three kmsnode processes")
	}
	t.Parallel()
	r := newRegion(t, 3, "--read-lease", clusterLease.String())
	r.startAll()
	r.waitMembers(r.nodes[0])
	leader := r.leaderAmong(r.nodes)
	if leader == nil {
		t.Fatal("no node reports a leader")
	}
	var survivors []*serveNode
	for _, sn := range r.nodes {
		if sn != leader {
			survivors = append(survivors, sn)
		}
	}
	t.Logf("leader %s; load on %s and %s", leader.id, survivors[0].id, survivors[1].id)
	keyID := createKey(t, survivors[0].client, &awskms.CreateKeyInput{Description: aws.String("failover: crypto load")})
	old := encryptUnder(t, survivors[1].client, keyID, keyID, "before the kill", nil)

	// Load: Encrypt+Decrypt round trips on both survivors, and a CreateKey
	// writer through each of them, until stop.
	const cryptoWorkers = 2
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stats := map[string]*cryptoStats{}
	var writes writeLog
	for _, sn := range survivors {
		st := &cryptoStats{}
		stats[sn.id] = st
		for w := range cryptoWorkers {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					st.record(start, roundTrip(sn.client, keyID, fmt.Appendf(nil, "%s/%d/%d", sn.id, w, i)))
				}
			})
		}
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond) // pacing, at most 100 keys/s per writer
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				out, err := sn.client.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String(fmt.Sprintf("failover %s #%d", sn.id, i))})
				cancel()
				id := ""
				if err == nil {
					id = aws.ToString(out.KeyMetadata.KeyId)
				}
				writes.record(sn.id, start, id, err)
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)
	loadStart := time.Now()
	waitFor(t, 30*time.Second, "load running on both survivors", func() bool {
		for _, sn := range survivors {
			if stats[sn.id].ops.Load() < 20 || writes.acksSince(sn.id, loadStart) < 5 {
				return false
			}
		}
		return true
	})

	killAt := time.Now()
	if ws := leader.p.signal(syscall.SIGKILL); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("leader %s did not die of SIGKILL: %v", leader.id, ws)
	}
	var newLeader *serveNode
	waitFor(t, 30*time.Second, "a surviving node reports a new leader", func() bool {
		newLeader = r.leaderAmong(survivors)
		return newLeader != nil
	})
	failover := time.Since(killAt)
	// Writes are back once a write sent after the kill is acknowledged through
	// each survivor. The load runs on at least Δ past the kill, so a
	// survivor's lease from the old leader would have run out by then.
	waitFor(t, 30*time.Second, "writes acknowledged through both survivors after the kill", func() bool {
		return writes.acksSince(survivors[0].id, killAt) >= 5 && writes.acksSince(survivors[1].id, killAt) >= 5
	})
	waitFor(t, 2*clusterLease, "the load to run for Δ+2s after the kill", func() bool {
		return time.Since(killAt) > clusterLease+2*time.Second
	})
	stopLoad()

	// The numbers.
	acks := writes.snapshot()
	slices.SortFunc(acks, func(a, b ack) int { return a.end.Compare(b.end) })
	// The write gap: the longest stretch without an acknowledged write that
	// ends after the kill. Writes are back: the first write sent after the
	// kill is acknowledged.
	var writeGap, writesBack time.Duration
	for i, a := range acks {
		if i > 0 && a.end.After(killAt) {
			writeGap = max(writeGap, a.end.Sub(acks[i-1].end))
		}
		if !a.start.Before(killAt) && (writesBack == 0 || a.end.Sub(killAt) < writesBack) {
			writesBack = a.end.Sub(killAt)
		}
	}
	t.Logf("failover: a new leader (%s) reported %v after SIGKILL of %s", newLeader.id, failover.Round(time.Millisecond), leader.id)
	t.Logf("writes: longest gap between acknowledged writes %v; the first write sent after the kill was acknowledged %v after it",
		writeGap.Round(time.Millisecond), writesBack.Round(time.Millisecond))
	t.Logf("writes: %d acknowledged, %d failed %v", len(acks), len(writes.fails), writes.fails[:min(len(writes.fails), 5)])
	if writeGap > 15*time.Second {
		t.Errorf("no write was acknowledged for %v across the kill, want < 15s", writeGap)
	}
	if writesBack > 15*time.Second {
		t.Errorf("writes came back %v after the kill, want < 15s", writesBack)
	}
	for _, sn := range survivors {
		st := stats[sn.id]
		t.Logf("crypto at %s: %d round trips, %d failed, slowest %v", sn.id, st.ops.Load(), st.fails.Load(), st.maxLatency.Round(time.Millisecond))
		if st.fails.Load() != 0 {
			t.Errorf("%s: %d of %d Encrypt+Decrypt round trips failed across the leader kill, want 0: %v", sn.id, st.fails.Load(), st.ops.Load(), st.errs)
		}
	}

	// Every acknowledged key is on both survivors.
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, sn := range survivors {
		for _, a := range acks {
			if _, err := sn.client.DescribeKey(dctx, &awskms.DescribeKeyInput{KeyId: &a.id}); err != nil {
				t.Fatalf("key %s acknowledged via %s at %v after the kill: DescribeKey via %s: %v",
					a.id, a.via, a.end.Sub(killAt).Round(time.Millisecond), sn.id, err)
			}
		}
	}
	// A write may fail while there is no leader, but never with an answer
	// that says it did not happen when it did.
	for _, f := range writes.fails {
		m := notFoundKey.FindStringSubmatch(f.err.Error())
		if errCode(f.err) != "NotFoundException" || m == nil {
			continue
		}
		if _, err := survivors[0].client.DescribeKey(dctx, &awskms.DescribeKeyInput{KeyId: &m[1]}); err != nil {
			t.Errorf("CreateKey %v\n(and DescribeKey of that key: %v)", f, err)
			continue
		}
		t.Errorf("CreateKey %v\nbut key %s exists afterwards: a committed write was answered as a client error. "+
			"cluster.Apply on a follower waits at most 1s for its own FSM (waitApplied, cluster/cluster.go), then "+
			"kms/create_key.go reads the key locally; when the leader dies just after the commit, the follower "+
			"learns of it only from the next leader, seconds later", f, m[1])
	}

	// The killed node restarts on its data, rejoins and serves.
	leader.start(t)
	leader.waitReady(t)
	r.waitMembers(leader)
	ids := keyIDs(t, leader.client)
	for _, a := range acks {
		if !slices.Contains(ids, a.id) {
			t.Fatalf("the restarted %s lacks key %s (acknowledged via %s)", leader.id, a.id, a.via)
		}
	}
	decryptOK(t, leader.client, old)
	id := createKey(t, leader.client, &awskms.CreateKeyInput{Description: aws.String("after the restart")})
	decryptOK(t, survivors[0].client, encryptUnder(t, survivors[1].client, id, id, "after the restart", nil))
	if ws := leader.p.signal(syscall.SIGTERM); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("restarted %s on SIGTERM: %v, want exit 0", leader.id, ws)
	}
}

var notFoundKey = regexp.MustCompile(`NotFoundException: Key 'arn:[^']*:key/([0-9a-f-]{36})' does not exist`)

// waitFor is testnode.Eventually with a poll suited to calls over HTTP.
func waitFor(t *testing.T, max time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", max, msg)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}
