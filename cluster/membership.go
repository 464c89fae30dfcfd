package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// progressTable remembers, on the leader, when each follower last renewed
// its lease and how far it had applied: a non-voter that keeps renewing and
// keeps up for StabilizeTime is healthy enough to vote.
type progressTable struct {
	mu sync.Mutex
	m  map[string]*progress
}

type progress struct {
	since, last time.Time // start of the current streak, latest renewal
	applied     uint64
}

func (p *progressTable) seen(id string, applied uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]*progress{}
	}
	now := time.Now()
	e := p.m[id]
	if e == nil || now.Sub(e.last) > 2*time.Second {
		e = &progress{since: now}
		p.m[id] = e
	}
	e.last, e.applied = now, applied
}

// healthy: renewing now, for at least stable, within maxLag entries.
func (p *progressTable) healthy(id string, stable time.Duration, leaderApplied uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.m[id]
	if e == nil {
		return false
	}
	now := time.Now()
	return now.Sub(e.last) < 2*time.Second && now.Sub(e.since) >= stable && leaderApplied-min(leaderApplied, e.applied) < 256
}

// reconcileLoop runs on the leader (design-notes §3.2): it adds region
// members whose certificate proves their identity as non-voters, promotes
// healthy non-voters up to the voter target, and follows address changes.
func (c *Cluster) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.gossip.wake:
		}
	}
}

func (c *Cluster) reconcile(ctx context.Context) {
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	known := map[string]raft.Server{}
	for _, s := range servers {
		known[string(s.ID)] = s
	}
	for _, m := range c.gossip.members() {
		if m.Status != "alive" || m.ID == c.cfg.NodeID {
			continue
		}
		s, ok := known[m.ID]
		switch {
		case !ok && c.recentlyRemoved(m.ID):
			// Removed by the operator and still leaving gossip: not back.
		case !ok:
			c.admit(ctx, m)
		case string(s.Address) != m.Meta.Cluster:
			// Same node, new address: re-adding with the same suffrage
			// updates the address in the configuration.
			c.log.Info("node address changed", "peer", m.ID, "from", s.Address, "to", m.Meta.Cluster)
			if s.Suffrage == raft.Voter {
				c.raft.AddVoter(s.ID, raft.ServerAddress(m.Meta.Cluster), 0, 5*time.Second)
			} else {
				c.raft.AddNonvoter(s.ID, raft.ServerAddress(m.Meta.Cluster), 0, 5*time.Second)
			}
		}
	}
	c.promote(servers)
}

// admit adds a gossip member to Raft as a non-voter once its certificate,
// checked over the cluster port, proves the node ID and region it claims.
func (c *Cluster) admit(ctx context.Context, m member) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id, err := c.tr.PeerIdentity(dctx, m.Meta.Cluster, m.ID)
	if err != nil {
		c.log.Warn("refusing to add a node: its certificate does not prove its identity",
			"peer", m.ID, "addr", m.Meta.Cluster, "reason", err.Error())
		return
	}
	if err := c.raft.AddNonvoter(raft.ServerID(id.NodeID), raft.ServerAddress(m.Meta.Cluster), 0, 5*time.Second).Error(); err != nil {
		c.log.Warn("adding a non-voter failed", "peer", m.ID, "err", err)
		return
	}
	c.log.Info("node joined the region as a non-voter", "peer", m.ID, "addr", m.Meta.Cluster)
}

// promote makes healthy non-voters voters while the region has fewer voters
// than its target: the largest odd number not above the member count, capped
// at MaxVoters. Voters are never demoted automatically.
func (c *Cluster) promote(servers []raft.Server) {
	voters := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	target := min(len(servers), c.cfg.MaxVoters)
	if target%2 == 0 {
		target--
	}
	applied := c.fsm.AppliedIndex()
	for _, s := range servers {
		if voters >= target {
			return
		}
		if s.Suffrage != raft.Nonvoter || !c.progress.healthy(string(s.ID), c.cfg.StabilizeTime, applied) {
			continue
		}
		if err := c.raft.AddVoter(s.ID, s.Address, 0, 5*time.Second).Error(); err != nil {
			c.log.Warn("promoting a non-voter failed", "peer", s.ID, "err", err)
			return
		}
		c.log.Info("node promoted to voter", "peer", s.ID)
		voters++
	}
}

// Member is one node of the region, as Raft and gossip see it.
type Member struct {
	NodeID   string `json:"node_id"`
	Address  string `json:"cluster_addr"`
	APIAddr  string `json:"api_addr,omitempty"`
	Suffrage string `json:"suffrage"` // voter, nonvoter, or none (gossip only)
	Leader   bool   `json:"leader"`
	Gossip   string `json:"gossip"` // alive, gone (left or failed), or absent
}

// Members lists the region's nodes: the Raft configuration merged with the
// gossip pool.
func (c *Cluster) Members() ([]Member, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	_, leader := c.raft.LeaderWithID()
	byID := map[string]*Member{}
	for _, s := range f.Configuration().Servers {
		suff := "voter"
		if s.Suffrage != raft.Voter {
			suff = "nonvoter"
		}
		byID[string(s.ID)] = &Member{NodeID: string(s.ID), Address: string(s.Address), Suffrage: suff, Leader: s.ID == leader, Gossip: "absent"}
	}
	if c.gossip != nil {
		for _, m := range c.gossip.members() {
			e := byID[m.ID]
			if e == nil {
				e = &Member{NodeID: m.ID, Address: m.Meta.Cluster, Suffrage: "none"}
				byID[m.ID] = e
			}
			e.Gossip, e.APIAddr = m.Status, m.Meta.API
		}
	} else if e := byID[c.cfg.NodeID]; e != nil {
		e.Gossip, e.APIAddr = "alive", c.cfg.APIAddr
	}
	out := make([]Member, 0, len(byID))
	for _, m := range byID {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out, nil
}

// RemoveNode removes a node from the region's Raft configuration (the
// operator's `kmsctl remove-node`), through the leader. Removing the leader
// first hands leadership to another voter.
func (c *Cluster) RemoveNode(ctx context.Context, id string) error {
	deadline := time.Now().Add(c.cfg.ApplyTimeout)
	for {
		var err error
		if c.raft.State() == raft.Leader {
			err = c.removeLocal(ctx, id)
		} else if addr, _ := c.raft.LeaderWithID(); addr != "" && c.tr != nil {
			body := fmt.Appendf(nil, `{"node_id":%q}`, id)
			err = c.call(ctx, "POST", string(addr), rpcRemove, nil, body, nil)
		} else {
			err = errRetry
		}
		if err == nil || !isRetry(err) {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return ErrNoLeader
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isRetry(err error) bool { return err != nil && (errors.Is(err, errRetry) || retryable(err)) }

func (c *Cluster) removeLocal(ctx context.Context, id string) error {
	if c.raft.State() != raft.Leader {
		return errRetry
	}
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	if !slices.ContainsFunc(f.Configuration().Servers, func(s raft.Server) bool { return string(s.ID) == id }) {
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	if id == c.cfg.NodeID {
		if err := c.raft.LeadershipTransfer().Error(); err != nil {
			return fmt.Errorf("cluster: hand over leadership before removing this node: %w", err)
		}
		return errRetry // the new leader removes us
	}
	if err := c.raft.RemoveServer(raft.ServerID(id), 0, 5*time.Second).Error(); err != nil {
		if retryable(err) {
			return errRetry
		}
		return fmt.Errorf("cluster: remove %s: %w", id, err)
	}
	c.removedMu.Lock()
	if c.removedAt == nil {
		c.removedAt = map[string]time.Time{}
	}
	c.removedAt[id] = time.Now()
	c.removedMu.Unlock()
	c.log.Info("node removed from the region", "peer", id)
	return nil
}

// removalGrace is how long the leader will not re-admit a node the operator
// removed: the node leaves gossip on its own once it sees the removal; a
// node restarted later rejoins normally.
const removalGrace = time.Minute

func (c *Cluster) recentlyRemoved(id string) bool {
	c.removedMu.Lock()
	defer c.removedMu.Unlock()
	at, ok := c.removedAt[id]
	return ok && time.Since(at) < removalGrace
}
