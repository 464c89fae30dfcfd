package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/fsm"
)

// DeleteAccessKeyRequest names an access key.
type DeleteAccessKeyRequest struct {
	AccessKeyId string `json:"AccessKeyId"`
}

// DeleteAccessKey is KmsNodeOperator.DeleteAccessKey. Signatures made with
// the key fail from the moment the deletion is applied on a node.
func (s *Service) DeleteAccessKey(ctx context.Context, req *DeleteAccessKeyRequest) (struct{}, error) {
	id, _, ok := s.fsm.IdentityByAccessKey(req.AccessKeyId)
	if !ok {
		// Only a caller who may delete access keys at all learns that
		// this one does not exist.
		if err := s.authorizeAccount(ctx, "kmsnode:DeleteAccessKey"); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, errorf(ErrNotFound, "Access key '%s' does not exist.", req.AccessKeyId)
	}
	if err := s.authorizeIdentityKeys(ctx, "kmsnode:DeleteAccessKey", id.ARN); err != nil {
		return struct{}{}, err
	}
	if err := s.cluster.ApplyRevoking(ctx, &fsm.DeleteAccessKey{Req: s.req(ctx), ARN: id.ARN, AccessKeyID: req.AccessKeyId}); err != nil {
		return struct{}{}, s.identityError(err, req.AccessKeyId)
	}
	return struct{}{}, nil
}
