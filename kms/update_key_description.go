package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, req *wire.UpdateKeyDescriptionRequest) (*wire.UpdateKeyDescriptionResponse, error) {
	k, err := s.resolveKey(ctx, "UpdateKeyDescription", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, &fsm.UpdateDescription{Req: s.req(ctx), KeyID: k.ID, Description: *req.Description}); err != nil {
		return nil, err
	}
	return &wire.UpdateKeyDescriptionResponse{}, nil
}
