package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// EnableKey lets a disabled key be used again.
func (s *Service) EnableKey(ctx context.Context, req *wire.EnableKeyRequest) (*wire.EnableKeyResponse, error) {
	k, err := s.resolveKey(ctx, "EnableKey", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, &fsm.EnableKey{Req: s.req(ctx), KeyID: k.ID}); err != nil {
		return nil, err
	}
	return &wire.EnableKeyResponse{}, nil
}
