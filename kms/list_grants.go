package kms

import (
	"context"
	"strings"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// ListGrants pages through a key's grants in grant ID order, optionally
// only one grant (GrantId) or those of one grantee (GranteePrincipal).
func (s *Service) ListGrants(ctx context.Context, req *wire.ListGrantsRequest) (*wire.ListGrantsResponse, error) {
	if err := pageLimit("limit", req.Limit, 100); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(ctx, "ListGrants", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	// The marker names the key too: a marker of another key's listing is
	// refused rather than resumed at a meaningless position.
	last, err := decodeMarker("grants", req.Marker)
	if err != nil {
		return nil, err
	}
	after := ""
	if last != "" {
		var ok bool
		if after, ok = strings.CutPrefix(last, k.ID+"/"); !ok || after == "" {
			return nil, errorf(ErrInvalidMarker, "Invalid marker.")
		}
	}
	var keep func(*fsm.Grant) bool
	switch {
	case req.GrantId != "":
		if k.Grant(req.GrantId) == nil {
			return nil, s.grantIDNotFound(k.ID, req.GrantId)
		}
		keep = func(g *fsm.Grant) bool {
			return g.ID == req.GrantId && (req.GranteePrincipal == "" || g.GranteePrincipal == req.GranteePrincipal)
		}
	case req.GranteePrincipal != "":
		keep = func(g *fsm.Grant) bool { return g.GranteePrincipal == req.GranteePrincipal }
	}
	gs, more := k.GrantsAfter(after, limit(req.Limit, 50), keep)
	resp := &wire.ListGrantsResponse{Grants: make([]wire.GrantListEntry, 0, len(gs)), Truncated: more}
	for _, g := range gs {
		resp.Grants = append(resp.Grants, s.grantEntry(k.ID, g))
	}
	if more {
		resp.NextMarker = encodeMarker("grants", k.ID+"/"+gs[len(gs)-1].ID)
	}
	return resp, nil
}

// grantEntry is the wire form of a grant, as ListGrants and
// ListRetirableGrants return it (KeyId is the key ARN, as in AWS).
func (s *Service) grantEntry(keyID string, g *fsm.Grant) wire.GrantListEntry {
	e := wire.GrantListEntry{
		KeyId: s.keyARN(keyID), GrantId: g.ID, Name: g.Name, CreationDate: wire.TimeOf(g.CreatedAt),
		GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
		IssuingAccount: g.IssuingAccount, Operations: g.Operations,
	}
	if c := g.Constraints; c != nil {
		e.Constraints = &wire.GrantConstraints{EncryptionContextEquals: c.EncryptionContextEquals, EncryptionContextSubset: c.EncryptionContextSubset}
	}
	return e
}

// grantIDNotFound is InvalidGrantIdException for a grant ID the key has not.
func (s *Service) grantIDNotFound(keyID, grantID string) error {
	return errorf(ErrInvalidGrantID, "Grant ID %s is not a grant of %s.", grantID, s.keyARN(keyID))
}
