package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testcluster"
	"github.com/kmsnode/kmsnode/internal/testnode"
)

// TestMetricsRegion: the metrics of a 3-node region show one leader and
// two followers that agree on the term, three voters, equal commit and
// applied indexes once writes through a follower have replicated, the same
// key counts everywhere and fresh leases; a follower cut off from its
// peers shows its lease ageing past Δ and stops being ready, and recovers
// once healed.
func TestMetricsRegion(t *testing.T) {
	t.Parallel()
	r := testcluster.Start(t, 3, withMetrics)
	leader := r.Leader()
	followers := r.Followers()
	for i := range 3 {
		id := newKey(t, followers[i%2].Client, nil)
		for _, n := range r.Nodes {
			_, err := n.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("m")})
			mustOK(t, "Encrypt on "+n.ID, err)
		}
	}

	scrapeAll := func() map[string]scrapeResult {
		out := map[string]scrapeResult{}
		for _, n := range r.Running() {
			out[n.ID] = scrape(t, nil, n.MetricsURL())
		}
		return out
	}
	var why string
	defer func() {
		if t.Failed() && why != "" {
			t.Logf("the scrapes disagreed last on: %s", why)
		}
	}()
	testnode.Eventually(t, 30*time.Second, "one leader and equal indexes on every node", func() bool {
		why = regionAgrees(scrapeAll(), leader.ID)
		return why == ""
	})
	// Keys are counted at most every few seconds; the count converges.
	testnode.Eventually(t, 30*time.Second, "3 enabled keys on every node", func() bool {
		for _, s := range scrapeAll() {
			if v, _ := s.get("kmsnode_keys", "state", "Enabled"); v != 3 {
				return false
			}
		}
		return true
	})
	for id, s := range scrapeAll() {
		if got := s.must(t, "kmsnode_requests_total", "operation", "Encrypt", "code", "OK"); got != 3 {
			t.Errorf("%s served %v Encrypts, want 3", id, got)
		}
		if age, d := s.must(t, "kmsnode_lease_age_seconds"), s.must(t, "kmsnode_lease_duration_seconds"); !(age < d) {
			t.Errorf("%s: lease age %v ≥ Δ %v", id, age, d)
		}
	}

	cut := followers[0]
	cut.Isolate(true)
	testnode.Eventually(t, 30*time.Second, "the cut-off follower's lease ages past Δ and it is not ready", func() bool {
		s := scrape(t, nil, cut.MetricsURL())
		age, _ := s.get("kmsnode_lease_age_seconds")
		d, _ := s.get("kmsnode_lease_duration_seconds")
		ready, _ := s.get("kmsnode_ready")
		contact, _ := s.get("kmsnode_raft_last_contact_seconds")
		return age > d && ready == 0 && contact > d
	})
	cut.Isolate(false)
	testnode.Eventually(t, 30*time.Second, "the healed follower is ready again", func() bool {
		s := scrape(t, nil, cut.MetricsURL())
		ready, _ := s.get("kmsnode_ready")
		return ready == 1
	})
}

// regionAgrees explains what is not yet consistent in the scrapes of a
// region led by leaderID ("" when all is).
func regionAgrees(scrapes map[string]scrapeResult, leaderID string) string {
	var term, commit float64 = -1, -1
	leaders := 0
	for id, s := range scrapes {
		isLeader, _ := s.get("kmsnode_raft_state", "state", "Leader")
		isFollower, _ := s.get("kmsnode_raft_state", "state", "Follower")
		leaders += int(isLeader)
		if (id == leaderID) != (isLeader == 1) || isLeader+isFollower != 1 {
			return fmt.Sprintf("%s: leader %v follower %v", id, isLeader, isFollower)
		}
		if v, _ := s.get("kmsnode_raft_voters"); v != 3 {
			return fmt.Sprintf("%s: %v voters", id, v)
		}
		if v, _ := s.get("kmsnode_raft_peers"); v != 2 {
			return fmt.Sprintf("%s: %v peers", id, v)
		}
		tm, _ := s.get("kmsnode_raft_term")
		c, _ := s.get("kmsnode_raft_commit_index")
		a, _ := s.get("kmsnode_raft_applied_index")
		if term == -1 {
			term, commit = tm, c
		}
		if tm != term || c != commit || a != c {
			return fmt.Sprintf("%s: term %v commit %v applied %v; another node: term %v commit %v", id, tm, c, a, term, commit)
		}
		if lc, _ := s.get("kmsnode_raft_last_contact_seconds"); id == leaderID && lc != 0 || lc > 5 {
			return fmt.Sprintf("%s: last contact %v s", id, lc)
		}
		if r, _ := s.get("kmsnode_ready"); r != 1 {
			return id + ": not ready"
		}
	}
	if leaders != 1 {
		return fmt.Sprintf("%d leaders", leaders)
	}
	return ""
}
