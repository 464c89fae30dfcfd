package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// GetKeyRotationStatus reports a key's automatic rotation setting and dates.
func (s *Service) GetKeyRotationStatus(ctx context.Context, req *wire.GetKeyRotationStatusRequest) (*wire.GetKeyRotationStatusResponse, error) {
	k, err := s.resolveKey(ctx, "GetKeyRotationStatus", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if k.State == fsm.StatePendingDeletion {
		return nil, s.stateError(k.ID, k.State)
	}
	resp := &wire.GetKeyRotationStatusResponse{
		KeyId:                     s.keyARN(k.ID),
		KeyRotationEnabled:        k.Rotation.Enabled,
		OnDemandRotationStartDate: wire.TimeOf(k.Rotation.OnDemandAt),
	}
	if k.Rotation.Enabled {
		resp.RotationPeriodInDays = int32Ptr(k.Rotation.PeriodDays)
		resp.NextRotationDate = wire.TimeOf(k.Rotation.NextAt)
	}
	return resp, nil
}
