package kms

import "context"

// GetIdentityResponse describes one identity (no secret).
type GetIdentityResponse struct {
	Identity IdentityInfo `json:"Identity"`
}

// GetIdentity is KmsNodeOperator.GetIdentity. An empty Identity describes
// the caller (like STS GetCallerIdentity), which every caller may do.
func (s *Service) GetIdentity(ctx context.Context, req *IdentityRequest) (*GetIdentityResponse, error) {
	ri := RequestFrom(ctx)
	ref := req.Identity
	if ref == "" {
		if ref = ri.Principal; ref == "" {
			return nil, s.denied(ri, "kmsnode:GetIdentity", "*", "", false)
		}
	}
	arn, _, _, err := s.identityARN(ref)
	if err != nil {
		return nil, err
	}
	if arn != ri.Principal { // describing oneself needs no permission
		if err := s.authorizeResource(ctx, "kmsnode:GetIdentity", arn); err != nil {
			return nil, err
		}
	}
	id, ok := s.fsm.Identity(arn)
	if !ok {
		return nil, errorf(ErrNotFound, "Identity '%s' does not exist.", arn)
	}
	return &GetIdentityResponse{Identity: s.identityInfo(id)}, nil
}
