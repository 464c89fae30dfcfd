package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/fsm"
)

// IdentityRequest names one identity.
type IdentityRequest struct {
	Identity string `json:"Identity"`
}

// DeleteIdentity is KmsNodeOperator.DeleteIdentity: the identity goes with
// its access keys and inline policies (IAM would first ask for those to be
// removed; one call is what an operator wants here). The root identity
// cannot be deleted: it is the way back in.
func (s *Service) DeleteIdentity(ctx context.Context, req *IdentityRequest) (struct{}, error) {
	arn, typ, _, err := s.identityARN(req.Identity)
	if err != nil {
		return struct{}{}, err
	}
	if err := s.authorizeResource(ctx, "kmsnode:DeleteIdentity", arn); err != nil {
		return struct{}{}, err
	}
	if typ == fsm.IdentityRoot {
		return struct{}{}, validation("Identity", req.Identity, "The account root identity cannot be deleted")
	}
	// Revoking: it returns once no node of the region still accepts the
	// identity's signatures (cluster.ApplyRevoking).
	if err := s.cluster.ApplyRevoking(ctx, &fsm.DeleteIdentity{Req: s.req(ctx), ARN: arn}); err != nil {
		return struct{}{}, s.identityError(err, arn)
	}
	return struct{}{}, nil
}
