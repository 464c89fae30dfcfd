package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/fsm"
)

// IdentityPolicyRequest names an inline policy of an identity; Document is
// used by PutIdentityPolicy only.
type IdentityPolicyRequest struct {
	Identity       string `json:"Identity"`
	PolicyName     string `json:"PolicyName"`
	PolicyDocument string `json:"PolicyDocument,omitempty"`
}

// PutIdentityPolicy is KmsNodeOperator.PutIdentityPolicy: it adds or
// replaces an inline identity policy (AWS IAM policy grammar, no Principal).
func (s *Service) PutIdentityPolicy(ctx context.Context, req *IdentityPolicyRequest) (struct{}, error) {
	arn, typ, _, err := s.identityARN(req.Identity)
	if err != nil {
		return struct{}{}, err
	}
	if err := s.authorizeResource(ctx, "kmsnode:PutIdentityPolicy", arn); err != nil {
		return struct{}{}, err
	}
	if typ == fsm.IdentityRoot {
		return struct{}{}, validation("Identity", req.Identity, "The account root identity has no identity policies")
	}
	if err := checkInlinePolicyName(req.PolicyName); err != nil {
		return struct{}{}, err
	}
	if err := checkIdentityPolicy(req.PolicyDocument); err != nil {
		return struct{}{}, err
	}
	cmd := &fsm.PutIdentityPolicy{Req: s.req(ctx), ARN: arn, Policy: fsm.NamedPolicy{Name: req.PolicyName, Document: req.PolicyDocument}}
	// Revoking: a narrower policy binds every node before the answer.
	if err := s.cluster.ApplyRevoking(ctx, cmd); err != nil {
		return struct{}{}, s.identityError(err, arn)
	}
	return struct{}{}, nil
}

// GetIdentityPolicyResponse is one inline policy.
type GetIdentityPolicyResponse struct {
	PolicyName     string `json:"PolicyName"`
	PolicyDocument string `json:"PolicyDocument"`
}

// GetIdentityPolicy is KmsNodeOperator.GetIdentityPolicy.
func (s *Service) GetIdentityPolicy(ctx context.Context, req *IdentityPolicyRequest) (*GetIdentityPolicyResponse, error) {
	arn, _, _, err := s.identityARN(req.Identity)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeResource(ctx, "kmsnode:GetIdentityPolicy", arn); err != nil {
		return nil, err
	}
	if id, ok := s.fsm.Identity(arn); ok {
		for _, p := range id.Policies {
			if p.Name == req.PolicyName {
				return &GetIdentityPolicyResponse{PolicyName: p.Name, PolicyDocument: p.Document}, nil
			}
		}
	}
	return nil, errorf(ErrNotFound, "Policy '%s' of '%s' does not exist.", req.PolicyName, arn)
}

// DeleteIdentityPolicy is KmsNodeOperator.DeleteIdentityPolicy.
func (s *Service) DeleteIdentityPolicy(ctx context.Context, req *IdentityPolicyRequest) (struct{}, error) {
	arn, _, _, err := s.identityARN(req.Identity)
	if err != nil {
		return struct{}{}, err
	}
	if err := s.authorizeResource(ctx, "kmsnode:DeleteIdentityPolicy", arn); err != nil {
		return struct{}{}, err
	}
	if err := s.cluster.ApplyRevoking(ctx, &fsm.DeleteIdentityPolicy{Req: s.req(ctx), ARN: arn, Name: req.PolicyName}); err != nil {
		return struct{}{}, s.identityError(err, arn)
	}
	return struct{}{}, nil
}
