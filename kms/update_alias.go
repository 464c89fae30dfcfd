package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// UpdateAlias points an existing alias at another key.
func (s *Service) UpdateAlias(ctx context.Context, req *wire.UpdateAliasRequest) (*wire.UpdateAliasResponse, error) {
	k, err := s.aliasTarget(ctx, "UpdateAlias", req.AliasName, req.TargetKeyId)
	if err != nil {
		return nil, err
	}
	// The key the alias leaves must allow it too (AWS asks both keys).
	if a, ok := s.fsm.Alias(req.AliasName); ok && a.KeyID != k.ID {
		if old, ok := s.fsm.Key(a.KeyID); ok {
			if err := s.authorizeKey(ctx, "UpdateAlias", old, nil); err != nil {
				return nil, err
			}
		}
	}
	if err := s.apply(ctx, &fsm.UpdateAlias{Req: s.req(ctx), Name: req.AliasName, KeyID: k.ID}); err != nil {
		return nil, err
	}
	return &wire.UpdateAliasResponse{}, nil
}
