package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// RetireGrant deletes a grant named by a grant token, or by key and grant
// ID. As in AWS, permission comes first from the grant: its retiring
// principal may retire it, and so may its grantee when the grant lists
// RetireGrant; anyone else needs kms:RetireGrant from the key policy or
// identity policies. It returns only when no node of the region can still
// use the grant (cluster.ApplyRevoking).
func (s *Service) RetireGrant(ctx context.Context, req *wire.RetireGrantRequest) (*wire.RetireGrantResponse, error) {
	grantID := req.GrantId
	byToken := req.GrantToken != ""
	var k *fsm.Key
	var err error
	switch {
	case byToken:
		tokKey, tokGrant, err := parseGrantToken(req.GrantToken)
		if err != nil {
			return nil, err
		}
		if grantID != "" && grantID != tokGrant {
			return nil, validation("grantId", grantID, "Member must name the grant of the grant token, or be omitted")
		}
		keyRef := req.KeyId
		if keyRef == "" {
			keyRef = tokKey
		}
		if k, err = s.findKey(ctx, keyRef, keyOnly); err != nil {
			return nil, err
		}
		if k.ID != tokKey {
			return nil, validation("keyId", keyRef, "Member must name the key of the grant token, or be omitted")
		}
		grantID = tokGrant
	case req.KeyId == "" || grantID == "":
		return nil, validation("grantToken", "", "Specify a grant token, or both a key ID and a grant ID")
	default:
		if k, err = s.findKey(ctx, req.KeyId, keyOnly); err != nil {
			return nil, err
		}
	}
	withGrant, err := s.keyWithGrant(ctx, k, grantID)
	if err != nil {
		if byToken {
			return nil, errorf(ErrNotFound, "Grant %s of %s does not exist: it was retired or revoked.", grantID, s.keyARN(k.ID))
		}
		return nil, err
	}
	k = withGrant
	if !mayRetire(k.Grant(grantID), RequestFrom(ctx).Principal) {
		if err := s.authorizeKey(ctx, "RetireGrant", k, nil); err != nil {
			return nil, err
		}
	}
	if dryRun(req.DryRun) {
		return nil, errorf(ErrDryRun, msgDryRun)
	}
	if err := s.removeGrant(ctx, k.ID, grantID, fsm.GrantRetired); err != nil {
		return nil, err
	}
	return &wire.RetireGrantResponse{}, nil
}

// mayRetire reports whether the grant itself lets principal retire it.
func mayRetire(g *fsm.Grant, principal string) bool {
	if principal == "" {
		return false
	}
	if g.RetiringPrincipal != "" && granteeIs(g.RetiringPrincipal, principal) {
		return true
	}
	return g.HasOperation("RetireGrant") && granteeIs(g.GranteePrincipal, principal)
}
