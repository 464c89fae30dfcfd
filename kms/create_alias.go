package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// CreateAlias gives a key a friendly name.
func (s *Service) CreateAlias(ctx context.Context, req *wire.CreateAliasRequest) (*wire.CreateAliasResponse, error) {
	k, err := s.aliasTarget(ctx, "CreateAlias", req.AliasName, req.TargetKeyId)
	if err != nil {
		return nil, err
	}
	if _, ok := s.fsm.Alias(req.AliasName); ok {
		return nil, errorf(ErrAlreadyExists, "An alias with the name %s already exists", s.aliasARN(req.AliasName))
	}
	if err := s.apply(ctx, &fsm.CreateAlias{Req: s.req(ctx), Name: req.AliasName, KeyID: k.ID}); err != nil {
		return nil, err
	}
	return &wire.CreateAliasResponse{}, nil
}

// aliasTarget runs the checks CreateAlias and UpdateAlias share: the alias
// name, and a target that is a key ID or ARN of a key not pending deletion.
// The caller needs op on the alias (identity policies) and on the key.
func (s *Service) aliasTarget(ctx context.Context, op, name, target string) (*fsm.Key, error) {
	if err := checkAliasName(name); err != nil {
		return nil, err
	}
	if err := s.authorizeAlias(ctx, op, name); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(ctx, op, target, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	ri := RequestFrom(ctx)
	ri.Resources = append(ri.Resources, s.aliasARN(name))
	return k, nil
}
