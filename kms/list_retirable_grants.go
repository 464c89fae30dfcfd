package kms

import (
	"context"
	"strings"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ListRetirableGrants lists, across the region's keys, the grants whose
// retiring principal is exactly the one named, in key then grant ID order.
// As in AWS it is authorized by the caller's identity policies
// (kms:ListRetirableGrants), not by the keys' policies.
func (s *Service) ListRetirableGrants(ctx context.Context, req *wire.ListRetirableGrantsRequest) (*wire.ListGrantsResponse, error) {
	if err := pageLimit("limit", req.Limit, 100); err != nil {
		return nil, err
	}
	last, err := decodeMarker("retirable", req.Marker)
	if err != nil {
		return nil, err
	}
	afterKey, afterGrant := "", ""
	if last != "" {
		var ok bool
		if afterKey, afterGrant, ok = strings.Cut(last, "/"); !ok || afterKey == "" || afterGrant == "" {
			return nil, errorf(ErrInvalidMarker, "Invalid marker.")
		}
	}
	if err := s.checkGrantPrincipal(req.RetiringPrincipal); err != nil {
		return nil, err
	}
	if err := s.authorizeAccount(ctx, "kms:ListRetirableGrants"); err != nil {
		return nil, err
	}
	gs, more := s.fsm.RetirableGrants(req.RetiringPrincipal, afterKey, afterGrant, limit(req.Limit, 50))
	resp := &wire.ListGrantsResponse{Grants: make([]wire.GrantListEntry, 0, len(gs)), Truncated: more}
	for _, kg := range gs {
		resp.Grants = append(resp.Grants, s.grantEntry(kg.KeyID, kg.Grant))
	}
	if more {
		l := gs[len(gs)-1]
		resp.NextMarker = encodeMarker("retirable", l.KeyID+"/"+l.Grant.ID)
	}
	return resp, nil
}
