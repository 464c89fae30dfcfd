package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListGrants lists a key's grants. Grants arrive with the security issue;
// until then every key has none, but the key must exist.
func (s *Service) ListGrants(ctx context.Context, req *wire.ListGrantsRequest) (*wire.ListGrantsResponse, error) {
	if err := pageLimit("limit", req.Limit, 100); err != nil {
		return nil, err
	}
	if _, err := decodeMarker("grants", req.Marker); err != nil {
		return nil, err
	}
	if _, err := s.resolveKey(ctx, req.KeyId, keyOnly); err != nil {
		return nil, err
	}
	return &wire.ListGrantsResponse{Grants: []wire.GrantListEntry{}}, nil
}
