package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// defaultRotationPeriod is AWS's default automatic rotation period in days.
const defaultRotationPeriod = 365

// EnableKeyRotation turns on automatic rotation every RotationPeriodInDays
// (90–2560, checked by the model; default 365). The first rotation is due one
// period from now.
func (s *Service) EnableKeyRotation(ctx context.Context, req *wire.EnableKeyRotationRequest) (*wire.EnableKeyRotationResponse, error) {
	period := int32(defaultRotationPeriod)
	if req.RotationPeriodInDays != nil {
		period = *req.RotationPeriodInDays
	}
	k, err := s.rotatableKey(ctx, "EnableKeyRotation", req.KeyId)
	if err != nil {
		return nil, err
	}
	r := s.req(ctx)
	cmd := &fsm.SetRotation{Req: r, KeyID: k.ID, Enabled: true, PeriodDays: period, NextAt: r.At + days(period)}
	if err := s.apply(ctx, cmd); err != nil {
		return nil, err
	}
	return &wire.EnableKeyRotationResponse{}, nil
}

// rotatableKey resolves a key for the rotation operations and applies AWS's
// state checks: Disabled → DisabledException, other states → invalid state.
func (s *Service) rotatableKey(ctx context.Context, op, ref string) (*fsm.Key, error) {
	k, err := s.resolveKey(ctx, op, ref, keyOnly)
	if err != nil {
		return nil, err
	}
	switch k.State {
	case fsm.StateEnabled:
	case fsm.StateDisabled:
		return nil, errorf(ErrDisabled, "%s is disabled.", s.keyARN(k.ID))
	default:
		return nil, s.stateError(k.ID, k.State)
	}
	if k.Spec != keySpecSymmetric || k.Origin != originAWSKMS {
		return nil, errorf(ErrUnsupported, "%s does not support automatic key rotation.", s.keyARN(k.ID))
	}
	return k, nil
}
