package kms

import (
	"context"
	"time"

	"github.com/kmsnode/kmsnode/fsm"
)

// RunScheduler is the leader-only task that carries out due work: it deletes
// keys whose deletion window has ended and rotates keys whose automatic
// rotation is due, judged by the service's clock. It runs until ctx ends
// (leadership lost or node closing); register it with cluster.OnLeader.
func (s *Service) RunScheduler(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.runDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runDue proposes one command per due key. Each command is re-checked by the
// FSM against its own timestamp, so a key cancelled or rotated meanwhile is
// left alone.
func (s *Service) runDue(ctx context.Context) {
	now := s.now()
	deletions, rotations := s.fsm.DueWork(now)
	for _, id := range deletions {
		cmd := &fsm.DeleteKey{Req: fsm.Req{ID: NewRequestID(), At: now}, KeyID: id}
		if err := s.cluster.Apply(ctx, cmd); err != nil {
			s.log.Warn("scheduled key deletion failed", "key", id, "err", err)
			continue
		}
		s.log.Info("deleted key at the end of its waiting period", "key", id)
	}
	for _, id := range rotations {
		k, ok := s.fsm.Key(id)
		if !ok {
			continue
		}
		next := now + days(k.Rotation.PeriodDays)
		if err := s.rotate(ctx, k, fsm.RotationAutomatic, next); err != nil {
			s.log.Warn("automatic rotation failed", "key", id, "err", err)
			continue
		}
		s.log.Info("rotated key automatically", "key", id, "version", k.Current().Version+1)
	}
}
