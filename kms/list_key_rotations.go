package kms

import (
	"context"
	"strconv"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListKeyRotations lists a key's completed rotations, oldest first. Every
// listed version is still kept for Decrypt.
func (s *Service) ListKeyRotations(ctx context.Context, req *wire.ListKeyRotationsRequest) (*wire.ListKeyRotationsResponse, error) {
	after, err := decodeMarker("rotations", req.Marker)
	if err != nil {
		return nil, err
	}
	start := 1 // version 1 is the original material, not a rotation...
	if req.IncludeKeyMaterial == "ALL_KEY_MATERIAL" {
		start = 0 // ...unless the caller asks for all key material
	}
	if after != "" {
		v, err := strconv.Atoi(after)
		if err != nil || v < 1 { // a marker always follows at least one entry
			return nil, errorf(ErrInvalidMarker, "Invalid marker.")
		}
		start = v
	}
	k, err := s.resolveKey(ctx, "ListKeyRotations", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	n := limit(req.Limit, 100)
	resp := &wire.ListKeyRotationsResponse{Rotations: []wire.RotationsListEntry{}}
	cur := k.Current().Version
	i := start
	for ; i < len(k.Materials) && len(resp.Rotations) < n; i++ {
		m := k.Materials[i]
		state := "NON_CURRENT"
		if m.Version == cur {
			state = "CURRENT"
		}
		resp.Rotations = append(resp.Rotations, wire.RotationsListEntry{
			KeyId: s.keyARN(k.ID), RotationDate: wire.TimeOf(m.CreatedAt), RotationType: m.RotationType,
			KeyMaterialId: materialID(k.ID, m.Version), KeyMaterialState: state,
		})
	}
	if i < len(k.Materials) {
		resp.Truncated = true
		resp.NextMarker = encodeMarker("rotations", strconv.Itoa(i))
	}
	return resp, nil
}
