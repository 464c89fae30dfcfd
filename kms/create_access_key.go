package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/fsm"
)

// CreateAccessKeyResponse shows the new secret, once.
type CreateAccessKeyResponse struct {
	AccessKey AccessKeyInfo `json:"AccessKey"`
}

// CreateAccessKey is KmsNodeOperator.CreateAccessKey: a second key lets an
// application rotate its credentials without downtime.
func (s *Service) CreateAccessKey(ctx context.Context, req *IdentityRequest) (*CreateAccessKeyResponse, error) {
	arn, _, _, err := s.identityARN(req.Identity)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeIdentityKeys(ctx, "kmsnode:CreateAccessKey", arn); err != nil {
		return nil, err
	}
	r := s.req(ctx)
	ak, secret, err := s.newAccessKey(r.At)
	if err != nil {
		return nil, err
	}
	if err := s.cluster.Apply(ctx, &fsm.CreateAccessKey{Req: r, ARN: arn, Key: ak}); err != nil {
		return nil, s.identityError(err, arn)
	}
	return &CreateAccessKeyResponse{AccessKey: AccessKeyInfo{AccessKeyId: ak.ID, SecretAccessKey: secret, CreatedAt: unixSeconds(ak.CreatedAt)}}, nil
}
