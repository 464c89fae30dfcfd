package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// GetKeyPolicy returns a key's policy document ("default" is the only name).
func (s *Service) GetKeyPolicy(ctx context.Context, req *wire.GetKeyPolicyRequest) (*wire.GetKeyPolicyResponse, error) {
	k, err := s.resolveKey(ctx, "GetKeyPolicy", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.checkPolicyName(req.PolicyName, k.ID); err != nil {
		return nil, err
	}
	return &wire.GetKeyPolicyResponse{Policy: k.Policy, PolicyName: defaultPolicyName}, nil
}
