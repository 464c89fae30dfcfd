package kms

import (
	"context"
	"strconv"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// Deletion window limits. The model allows 1–365 days; AWS enforces 7–30.
const (
	minPendingWindow     = 7
	maxPendingWindow     = 30
	defaultPendingWindow = 30
)

// ScheduleKeyDeletion puts a key in PendingDeletion; the leader's scheduler
// deletes it, its material and its aliases when the window ends.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, req *wire.ScheduleKeyDeletionRequest) (*wire.ScheduleKeyDeletionResponse, error) {
	window := int32(defaultPendingWindow)
	if req.PendingWindowInDays != nil {
		window = *req.PendingWindowInDays
		if window < minPendingWindow || window > maxPendingWindow {
			return nil, validation("pendingWindowInDays", strconv.Itoa(int(window)), "Member must have minimum value of 7 and maximum value of 30.")
		}
	}
	k, err := s.resolveKey(ctx, "ScheduleKeyDeletion", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	r := s.req(ctx)
	date := r.At + days(window)
	if err := s.applyRevoking(ctx, &fsm.ScheduleDeletion{Req: r, KeyID: k.ID, WindowDays: window, DeletionDate: date}); err != nil {
		return nil, err
	}
	return &wire.ScheduleKeyDeletionResponse{
		KeyId: s.keyARN(k.ID), DeletionDate: wire.TimeOf(date),
		KeyState: fsm.StatePendingDeletion, PendingWindowInDays: &window,
	}, nil
}
