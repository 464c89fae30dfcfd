package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// DescribeKey returns a key's metadata.
func (s *Service) DescribeKey(ctx context.Context, req *wire.DescribeKeyRequest) (*wire.DescribeKeyResponse, error) {
	k, err := s.resolveKey(ctx, "DescribeKey", req.KeyId, keyOrAlias)
	if err != nil {
		return nil, err
	}
	return &wire.DescribeKeyResponse{KeyMetadata: s.metadata(k)}, nil
}
