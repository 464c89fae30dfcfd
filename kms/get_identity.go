package kms

import "context"

// GetIdentityResponse describes one identity (no secret).
type GetIdentityResponse struct {
	Identity IdentityInfo `json:"Identity"`
}

// GetIdentity is KmsNodeOperator.GetIdentity. An empty Identity describes
// the caller (like STS GetCallerIdentity), which every caller may do.
func (s *Service) GetIdentity(ctx context.Context, req *IdentityRequest) (*GetIdentityResponse, error) {
	ref := req.Identity
	if ref == "" {
		ref = RequestFrom(ctx).Principal
		if ref == "" {
			return nil, s.denied(RequestFrom(ctx), "kmsnode:GetIdentity", "*", "", false)
		}
	} else if err := s.authorizeAccount(ctx, "kmsnode:GetIdentity"); err != nil {
		return nil, err
	}
	arn, _, _, err := s.identityARN(ref)
	if err != nil {
		return nil, err
	}
	id, ok := s.fsm.Identity(arn)
	if !ok {
		return nil, errorf(ErrNotFound, "Identity '%s' does not exist.", arn)
	}
	return &GetIdentityResponse{Identity: s.identityInfo(id)}, nil
}
