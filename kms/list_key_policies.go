package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListKeyPolicies lists a key's policy names: always ["default"].
func (s *Service) ListKeyPolicies(ctx context.Context, req *wire.ListKeyPoliciesRequest) (*wire.ListKeyPoliciesResponse, error) {
	if _, err := decodeMarker("policies", req.Marker); err != nil {
		return nil, err
	}
	if _, err := s.resolveKey(ctx, "ListKeyPolicies", req.KeyId, keyOnly); err != nil {
		return nil, err
	}
	return &wire.ListKeyPoliciesResponse{PolicyNames: []string{defaultPolicyName}}, nil
}
