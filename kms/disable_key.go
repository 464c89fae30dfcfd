package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// DisableKey stops all cryptographic use of a key. It returns only when no
// node of the region can still use the key (cluster.ApplyRevoking).
func (s *Service) DisableKey(ctx context.Context, req *wire.DisableKeyRequest) (*wire.DisableKeyResponse, error) {
	k, err := s.resolveKey(ctx, "DisableKey", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	if err := s.applyRevoking(ctx, &fsm.DisableKey{Req: s.req(ctx), KeyID: k.ID}); err != nil {
		return nil, err
	}
	return &wire.DisableKeyResponse{}, nil
}
