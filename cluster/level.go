package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/kmsnode/kmsnode/fsm"
)

// Rolling upgrades (fsm/level.go). Every node advertises in its gossip
// metadata the highest command level its release can apply; the leader
// raises the region's level (fsm.SetLevel) once every server of the Raft
// configuration is alive in gossip and advertises at least that level.
// Until then Apply refuses command types of the higher level, so a node of
// the older release never meets a command it cannot apply. A server that is
// down holds the level where it is: it may come back with the old release.

// checkLevel refuses a command the region's level does not allow yet. When
// every server can already apply it (a new region, an upgrade just
// finished), the leader raises the level within a second: it waits for
// that rather than refuse.
func (c *Cluster) checkLevel(ctx context.Context, cmd fsm.Command) error {
	lv := fsm.LevelOf(cmd.Type())
	if lv <= c.fsm.Level() {
		return nil
	}
	if can, ok := c.regionCanRun(); ok && can >= lv {
		deadline := time.Now().Add(levelWait)
		for c.fsm.Level() < lv && time.Now().Before(deadline) && ctx.Err() == nil {
			step := time.Now().Add(100 * time.Millisecond)
			if step.After(deadline) {
				step = deadline
			}
			c.fsm.WaitApplied(ctx, c.fsm.AppliedIndex()+1, step)
		}
		if c.fsm.Level() >= lv {
			return nil
		}
	}
	return fmt.Errorf("%w: this change needs every node on a release with command level %d; the region runs at level %d until the upgrade finishes",
		ErrUpgradeInProgress, lv, c.fsm.Level())
}

// levelWait bounds how long a command waits for a level raise under way.
const levelWait = 5 * time.Second

// levelLoop runs on the leader: it raises the region's level when every
// server can apply it.
func (c *Cluster) levelLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if lv, ok := c.regionCanRun(); ok && lv > c.fsm.Level() {
			err := c.Apply(ctx, &fsm.SetLevel{Req: fsm.Req{ID: fmt.Sprintf("level-%d-%d", lv, time.Now().UnixNano()), At: time.Now().UnixMilli()}, Level: lv})
			if err != nil {
				c.log.Warn("cannot raise the region's command level", "level", lv, "err", err)
			} else {
				c.log.Info("region command level raised", "level", lv)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// regionCanRun returns the lowest MaxLevel over the servers of the Raft
// configuration, and false when a server's level is unknown (not alive in
// gossip).
func (c *Cluster) regionCanRun() (uint32, bool) {
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return 0, false
	}
	levels := map[string]uint32{c.cfg.NodeID: fsm.MaxLevel}
	if c.gossip != nil {
		for _, m := range c.gossip.members() {
			if m.Status == "alive" && m.ID != c.cfg.NodeID {
				levels[m.ID] = max(m.Meta.Level, 1) // v0.1 nodes advertise none
			}
		}
	}
	lowest := fsm.MaxLevel
	for _, s := range f.Configuration().Servers {
		lv, ok := levels[string(s.ID)]
		if !ok {
			return 0, false
		}
		lowest = min(lowest, lv)
	}
	return lowest, true
}
