package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// RotateKeyOnDemand adds a new material version now. AWS allows 25 per key
// and refuses one while an automatic rotation is due within 20 minutes; the
// FSM enforces both so concurrent calls resolve the same way everywhere.
func (s *Service) RotateKeyOnDemand(ctx context.Context, req *wire.RotateKeyOnDemandRequest) (*wire.RotateKeyOnDemandResponse, error) {
	k, err := s.rotatableKey(ctx, "RotateKeyOnDemand", req.KeyId)
	if err != nil {
		return nil, err
	}
	if k.Rotation.OnDemandCount >= fsm.MaxOnDemandRotations {
		return nil, errorf(ErrLimitExceeded, "%s has reached the limit of %d on-demand rotations.", s.keyARN(k.ID), fsm.MaxOnDemandRotations)
	}
	if err := s.rotate(ctx, k, fsm.RotationOnDemand, 0); err != nil {
		return nil, err
	}
	return &wire.RotateKeyOnDemandResponse{KeyId: s.keyARN(k.ID)}, nil
}

// rotate proposes the next material version of k.
func (s *Service) rotate(ctx context.Context, k *fsm.Key, kind string, nextAt int64) error {
	r := s.req(ctx)
	m, err := s.newMaterial(k.ID, k.Current().Version+1, r.At, kind)
	if err != nil {
		return err
	}
	return s.apply(ctx, &fsm.RotateKey{Req: r, KeyID: k.ID, Material: m, NextAt: nextAt})
}
