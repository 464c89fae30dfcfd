package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// UntagResource removes tags from a key by tag key.
func (s *Service) UntagResource(ctx context.Context, req *wire.UntagResourceRequest) (*wire.UntagResourceResponse, error) {
	k, err := s.resolveKey(ctx, "UntagResource", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, &fsm.UntagResource{Req: s.req(ctx), KeyID: k.ID, Keys: req.TagKeys}); err != nil {
		return nil, err
	}
	return &wire.UntagResourceResponse{}, nil
}
