package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// OnLeader registers a task that runs while this node leads the region: it
// starts after the node won an election and caught up (a Barrier), and its
// context is cancelled when leadership ends or the node closes. A task
// registered while the node already leads starts at once.
func (c *Cluster) OnLeader(task func(ctx context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tasks = append(c.tasks, task)
	if c.session != nil && c.session.ready {
		c.session.launch(task)
	}
}

// leaderSession is one term of leadership: its tasks share ctx.
type leaderSession struct {
	ctx   context.Context
	wg    sync.WaitGroup
	ready bool // caught up; tasks may run
}

func (s *leaderSession) launch(task func(context.Context)) {
	s.wg.Add(1)
	go func() { defer s.wg.Done(); task(s.ctx) }()
}

// leaderLoop follows leadership changes through a Raft observer (LeaderCh
// may drop edges) and starts/stops the leader tasks.
func (c *Cluster) leaderLoop() {
	defer c.wg.Done()
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.RaftState)
		return ok
	})
	c.raft.RegisterObserver(o)
	defer c.raft.DeregisterObserver(o)

	var stop func()
	check := func() {
		leading := c.raft.State() == raft.Leader
		switch {
		case leading && stop == nil:
			stop = c.startTasks()
		case !leading && stop != nil:
			stop()
			stop = nil
		}
	}
	check()
	for {
		select {
		case <-c.closing:
			if stop != nil {
				stop()
			}
			return
		case <-obs:
			check()
		}
	}
}

func (c *Cluster) startTasks() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &leaderSession{ctx: ctx}
	c.mu.Lock()
	c.session = s
	c.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Catch up on everything committed in earlier terms before acting:
		// the term's one Barrier, shared with the read lease.
		for !c.caughtUp() {
			if ctx.Err() != nil || c.raft.State() != raft.Leader {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
			err := c.renew(rctx)
			cancel()
			if err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond): // retry pacing
				}
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		s.ready = true
		for _, t := range c.tasks {
			s.launch(t)
		}
	}()
	return func() {
		cancel()
		c.mu.Lock()
		c.session = nil
		c.mu.Unlock()
		s.wg.Wait()
	}
}
