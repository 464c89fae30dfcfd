package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListKeys pages through the region's keys in key ID order.
func (s *Service) ListKeys(ctx context.Context, req *wire.ListKeysRequest) (*wire.ListKeysResponse, error) {
	if err := s.authorizeAccount(ctx, "kms:ListKeys"); err != nil {
		return nil, err
	}
	after, err := decodeMarker("keys", req.Marker)
	if err != nil {
		return nil, err
	}
	keys, more := s.fsm.ListKeys(after, limit(req.Limit, 100))
	resp := &wire.ListKeysResponse{Keys: make([]wire.KeyListEntry, 0, len(keys)), Truncated: more}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, wire.KeyListEntry{KeyId: k.ID, KeyArn: s.keyARN(k.ID)})
	}
	if more {
		resp.NextMarker = encodeMarker("keys", keys[len(keys)-1].ID)
	}
	return resp, nil
}
