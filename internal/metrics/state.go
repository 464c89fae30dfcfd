package metrics

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsnode/kmsnode/fsm"
)

// StateCountInterval is the least time between two walks of the state for
// keys by state, aliases and grants (see the package doc); a walk that took
// longer than 1/100 of it stretches it.
const StateCountInterval = 5 * time.Second

// countPage is how many keys or aliases one read-lock hold covers: Apply
// waits at most one page's walk (tens of microseconds) for the lock.
const countPage = 1024

// raftStates are the values of kmsnode_raft_state's label, all emitted
// (0 or 1) so a dashboard sees a node's state change rather than a series
// appear and vanish.
var raftStates = []string{"Leader", "Follower", "Candidate", "Shutdown"}

// keyStates are the values of kmsnode_keys' label.
var keyStates = []string{fsm.StateEnabled, fsm.StateDisabled, fsm.StatePendingDeletion}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	// node_region, not region: the scrape configuration's target label
	// "region" (deploy/prometheus) would rename a scraped one.
	descNodeInfo      = desc("kmsnode_node_info", "Always 1; the labels name this node and the region it serves.", "node_id", "node_region")
	descSealed        = desc("kmsnode_sealed", "1 while the node is sealed (serves nothing until unsealed).")
	descReady         = desc("kmsnode_ready", "1 while /readyz answers 200: unsealed, audit log writable, read lease held.")
	descRaftState     = desc("kmsnode_raft_state", "1 for this node's current Raft state, 0 for the others.", "state")
	descRaftTerm      = desc("kmsnode_raft_term", "Current Raft term.")
	descCommitIndex   = desc("kmsnode_raft_commit_index", "Highest Raft log index this node knows to be committed.")
	descAppliedIndex  = desc("kmsnode_raft_applied_index", "Highest Raft log index handed to the state machine.")
	descLastLogIndex  = desc("kmsnode_raft_last_log_index", "Highest Raft log index stored on this node.")
	descLastContact   = desc("kmsnode_raft_last_contact_seconds", "Time since this node last heard from the leader (0 on the leader, +Inf if never).")
	descPeers         = desc("kmsnode_raft_peers", "Voters of the region other than this node (0 if it is not a voter).")
	descVoters        = desc("kmsnode_raft_voters", "Voters in the region's latest Raft configuration.")
	descNonVoters     = desc("kmsnode_raft_nonvoters", "Non-voters in the region's latest Raft configuration.")
	descSnapIndex     = desc("kmsnode_raft_last_snapshot_index", "Raft index of the newest snapshot on this node (0: none yet).")
	descSnapSize      = desc("kmsnode_raft_last_snapshot_size_bytes", "Size of the newest snapshot on this node (0: none yet).")
	descLeaseAge      = desc("kmsnode_lease_age_seconds", "Time since the renewal the read lease runs from was sent (+Inf before the first); the node serves crypto while it is below kmsnode_lease_duration_seconds.")
	descLeaseDuration = desc("kmsnode_lease_duration_seconds", "The read lease Δ (--read-lease).")
	descKeys          = desc("kmsnode_keys", "KMS keys in the region's state, by key state.", "state")
	descAliases       = desc("kmsnode_aliases", "Aliases in the region's state.")
	descIdentities    = desc("kmsnode_identities", "Identities (principals) in the region's state.")
	descGrants        = desc("kmsnode_grants", "Grants on all keys in the region's state.")
	descCountSeconds  = desc("kmsnode_state_count_seconds", "How long the last count of keys, aliases and grants took.")
)

// stateCollector reads the node, Raft and the state machine at scrape time.
type stateCollector struct {
	src Sources

	mu      sync.Mutex // one count at a time; guards the cache below
	counted time.Time
	index   uint64 // FSM applied index of the cached counts
	counts  StateCounts
	took    time.Duration
}

// StateCounts are the figures of one walk of the state.
type StateCounts struct {
	Keys       map[string]int // by key state
	Aliases    int
	Identities int
	Grants     int
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodeInfo, descSealed, descReady, descRaftState, descRaftTerm,
		descCommitIndex, descAppliedIndex, descLastLogIndex, descLastContact, descPeers, descVoters,
		descNonVoters, descSnapIndex, descSnapSize, descLeaseAge, descLeaseDuration, descKeys, descAliases,
		descIdentities, descGrants, descCountSeconds} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descNodeInfo, 1, c.src.NodeID, c.src.Region)
	if c.src.Sealed != nil {
		gauge(descSealed, b2f(c.src.Sealed()))
	}
	if c.src.Ready != nil {
		gauge(descReady, b2f(c.src.Ready() == nil))
	}
	if c.src.Cluster != nil {
		m := c.src.Cluster.Metrics()
		for _, s := range raftStates {
			gauge(descRaftState, b2f(m.State == s), s)
		}
		gauge(descRaftTerm, float64(m.Term))
		gauge(descCommitIndex, float64(m.CommitIndex))
		gauge(descAppliedIndex, float64(m.AppliedIndex))
		gauge(descLastLogIndex, float64(m.LastLogIndex))
		gauge(descLastContact, seconds(m.LastContact))
		gauge(descPeers, float64(m.Peers))
		gauge(descVoters, float64(m.Voters))
		gauge(descNonVoters, float64(m.NonVoters))
		gauge(descSnapIndex, float64(m.LastSnapshotIndex))
		gauge(descSnapSize, float64(m.LastSnapshotSize))
		gauge(descLeaseAge, seconds(m.LeaseAge))
		gauge(descLeaseDuration, m.Lease.Seconds())
	}
	if c.src.FSM != nil {
		counts, took := c.count()
		for _, s := range keyStates {
			gauge(descKeys, float64(counts.Keys[s]), s)
		}
		gauge(descAliases, float64(counts.Aliases))
		gauge(descIdentities, float64(counts.Identities))
		gauge(descGrants, float64(counts.Grants))
		gauge(descCountSeconds, took.Seconds())
	}
}

// count returns the state's figures, walking it again only when it
// changed and the last walk is StateCountInterval old.
func (c *stateCollector) count() (StateCounts, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.src.FSM
	idx := f.AppliedIndex()
	// Walking a large state costs real CPU (~30 ms at 100 k keys): at
	// least 100 times as long passes between two walks, so counting never
	// takes more than 1 % of a core, whatever the state's size.
	if c.counts.Keys != nil && (idx == c.index || time.Since(c.counted) < max(StateCountInterval, 100*c.took)) {
		return c.counts, c.took
	}
	start := time.Now()
	c.counts = CountState(f)
	c.index, c.counted, c.took = idx, time.Now(), time.Since(start)
	return c.counts, c.took
}

// CountState walks f in pages: keys by state, aliases, identities and the
// grants of all keys, holding the FSM's read lock for one page at a time.
func CountState(f *fsm.FSM) StateCounts {
	var s StateCounts
	var enabled, disabled, pending int
	for after := ""; ; {
		keys, more := f.ListKeys(after, countPage)
		for _, k := range keys {
			switch k.State {
			case fsm.StateEnabled:
				enabled++
			case fsm.StateDisabled:
				disabled++
			case fsm.StatePendingDeletion:
				pending++
			}
			s.Grants += len(k.Grants)
		}
		if !more || len(keys) == 0 {
			break
		}
		after = keys[len(keys)-1].ID
	}
	s.Keys = map[string]int{fsm.StateEnabled: enabled, fsm.StateDisabled: disabled, fsm.StatePendingDeletion: pending}
	for after := ""; ; {
		aliases, more := f.ListAliases("", after, countPage)
		s.Aliases += len(aliases)
		if !more || len(aliases) == 0 {
			break
		}
		after = aliases[len(aliases)-1].Name
	}
	s.Identities = f.IdentityCount()
	return s
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// seconds converts a duration where the maximum means "never" (cluster's
// RaftMetrics) to seconds, +Inf for never.
func seconds(d time.Duration) float64 {
	if d == math.MaxInt64 {
		return math.Inf(1)
	}
	return d.Seconds()
}
