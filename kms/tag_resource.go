package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// TagResource adds tags to a key or replaces the values of existing ones.
func (s *Service) TagResource(ctx context.Context, req *wire.TagResourceRequest) (*wire.TagResourceResponse, error) {
	tags, err := checkTags(req.Tags)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(ctx, "TagResource", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, &fsm.TagResource{Req: s.req(ctx), KeyID: k.ID, Tags: tags}); err != nil {
		return nil, err
	}
	return &wire.TagResourceResponse{}, nil
}
