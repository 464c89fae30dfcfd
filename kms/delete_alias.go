package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// DeleteAlias removes an alias; the key is not affected.
func (s *Service) DeleteAlias(ctx context.Context, req *wire.DeleteAliasRequest) (*wire.DeleteAliasResponse, error) {
	if err := checkAliasName(req.AliasName); err != nil {
		return nil, err
	}
	RequestFrom(ctx).Resources = []string{s.aliasARN(req.AliasName)}
	if err := s.authorizeAlias(ctx, "DeleteAlias", req.AliasName); err != nil {
		return nil, err
	}
	if a, ok := s.fsm.Alias(req.AliasName); ok {
		if k, ok := s.fsm.Key(a.KeyID); ok {
			if err := s.authorizeKey(ctx, "DeleteAlias", k, nil); err != nil {
				return nil, err
			}
		}
	}
	if err := s.apply(ctx, &fsm.DeleteAlias{Req: s.req(ctx), Name: req.AliasName}); err != nil {
		return nil, err
	}
	return &wire.DeleteAliasResponse{}, nil
}
