package kms

import (
	"context"
	"errors"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// RevokeGrant deletes a grant; permission comes from the key policy or the
// identity policies (kms:RevokeGrant), never from a grant. It returns only
// when no node of the region can still use the grant
// (cluster.ApplyRevoking).
func (s *Service) RevokeGrant(ctx context.Context, req *wire.RevokeGrantRequest) (*wire.RevokeGrantResponse, error) {
	k, err := s.resolveKey(ctx, "RevokeGrant", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if k, err = s.keyWithGrant(ctx, k, req.GrantId); err != nil {
		return nil, err
	}
	if dryRun(req.DryRun) {
		return nil, errorf(ErrDryRun, msgDryRun)
	}
	if err := s.removeGrant(ctx, k.ID, req.GrantId, fsm.GrantRevoked); err != nil {
		return nil, err
	}
	return &wire.RevokeGrantResponse{}, nil
}

// keyWithGrant returns k read again, once, after a lease renewal when it
// does not have the grant yet (created through another node a moment ago),
// or InvalidGrantIdException.
func (s *Service) keyWithGrant(ctx context.Context, k *fsm.Key, grantID string) (*fsm.Key, error) {
	if k.Grant(grantID) != nil {
		return k, nil
	}
	if s.cluster.RenewLease(ctx) == nil {
		if nk, ok := s.fsm.Key(k.ID); ok && nk.Grant(grantID) != nil {
			return nk, nil
		}
	}
	return nil, s.grantIDNotFound(k.ID, grantID)
}

// removeGrant proposes the removal and waits until no node can use the
// grant any more.
func (s *Service) removeGrant(ctx context.Context, keyID, grantID, reason string) error {
	err := s.applyRevoking(ctx, &fsm.RemoveGrant{Req: s.req(ctx), KeyID: keyID, GrantID: grantID, Reason: reason})
	if errors.Is(err, fsm.ErrGrantNotFound) {
		// Removed by a concurrent call between the check and the commit.
		return s.grantIDNotFound(keyID, grantID)
	}
	return err
}
