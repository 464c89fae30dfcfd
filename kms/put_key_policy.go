package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// PutKeyPolicy replaces a key's policy after checking its grammar and,
// unless BypassPolicyLockoutSafetyCheck is set, AWS's lockout safety check:
// the new policy must let the caller put a policy again.
func (s *Service) PutKeyPolicy(ctx context.Context, req *wire.PutKeyPolicyRequest) (*wire.PutKeyPolicyResponse, error) {
	k, err := s.resolveKey(ctx, "PutKeyPolicy", req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.checkPolicyName(req.PolicyName, k.ID); err != nil {
		return nil, err
	}
	if err := checkPolicy(req.Policy); err != nil {
		return nil, err
	}
	if !(req.BypassPolicyLockoutSafetyCheck != nil && *req.BypassPolicyLockoutSafetyCheck) {
		if err := s.lockoutCheck(ctx, req.Policy, k.ID); err != nil {
			return nil, err
		}
	}
	if err := s.applyRevoking(ctx, &fsm.PutKeyPolicy{Req: s.req(ctx), KeyID: k.ID, Policy: req.Policy}); err != nil {
		return nil, err
	}
	return &wire.PutKeyPolicyResponse{}, nil
}
