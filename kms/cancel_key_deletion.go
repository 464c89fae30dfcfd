package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// CancelKeyDeletion takes a key out of PendingDeletion; as in AWS, the key
// is then Disabled.
func (s *Service) CancelKeyDeletion(ctx context.Context, req *wire.CancelKeyDeletionRequest) (*wire.CancelKeyDeletionResponse, error) {
	k, err := s.resolveKey(ctx, "CancelKeyDeletion", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if k.State != fsm.StatePendingDeletion {
		return nil, errorf(ErrInvalidState, "%s is not pending deletion.", s.keyARN(k.ID))
	}
	if err := s.apply(ctx, &fsm.CancelDeletion{Req: s.req(ctx), KeyID: k.ID}); err != nil {
		return nil, err
	}
	return &wire.CancelKeyDeletionResponse{KeyId: s.keyARN(k.ID)}, nil
}
