package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListAliases pages through the region's aliases in name order, optionally
// only those of one key.
func (s *Service) ListAliases(ctx context.Context, req *wire.ListAliasesRequest) (*wire.ListAliasesResponse, error) {
	if err := s.authorizeAccount(ctx, "kms:ListAliases"); err != nil {
		return nil, err
	}
	if err := pageLimit("limit", req.Limit, 100); err != nil {
		return nil, err
	}
	after, err := decodeMarker("aliases", req.Marker)
	if err != nil {
		return nil, err
	}
	keyID := ""
	if req.KeyId != "" {
		k, err := s.findKey(ctx, req.KeyId, keyOnly)
		if err != nil {
			return nil, err
		}
		keyID = k.ID
	}
	as, more := s.fsm.ListAliases(keyID, after, limit(req.Limit, 50))
	resp := &wire.ListAliasesResponse{Aliases: make([]wire.AliasListEntry, 0, len(as)), Truncated: more}
	for _, a := range as {
		resp.Aliases = append(resp.Aliases, wire.AliasListEntry{
			AliasName: a.Name, AliasArn: s.aliasARN(a.Name), TargetKeyId: a.KeyID,
			CreationDate: wire.TimeOf(a.CreatedAt), LastUpdatedDate: wire.TimeOf(a.UpdatedAt),
		})
	}
	if more {
		resp.NextMarker = encodeMarker("aliases", as[len(as)-1].Name)
	}
	return resp, nil
}
