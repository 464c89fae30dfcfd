package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// DisableKeyRotation turns off automatic rotation; existing material versions
// stay and keep decrypting.
func (s *Service) DisableKeyRotation(ctx context.Context, req *wire.DisableKeyRotationRequest) (*wire.DisableKeyRotationResponse, error) {
	k, err := s.rotatableKey(ctx, "DisableKeyRotation", req.KeyId)
	if err != nil {
		return nil, err
	}
	if err := s.apply(ctx, &fsm.SetRotation{Req: s.req(ctx), KeyID: k.ID, Enabled: false}); err != nil {
		return nil, err
	}
	return &wire.DisableKeyRotationResponse{}, nil
}
