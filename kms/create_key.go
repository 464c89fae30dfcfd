package kms

import (
	"context"
	"crypto/sha256"
	"strconv"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// CreateKey creates a symmetric encryption key with fresh material sealed
// under the region keyring.
func (s *Service) CreateKey(ctx context.Context, req *wire.CreateKeyRequest) (*wire.CreateKeyResponse, error) {
	spec := req.KeySpec
	if spec == "" {
		spec = req.CustomerMasterKeySpec
	}
	if req.KeySpec != "" && req.CustomerMasterKeySpec != "" {
		return nil, validation("customerMasterKeySpec", req.CustomerMasterKeySpec, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	if spec == "" {
		spec = keySpecSymmetric
	}
	if spec != keySpecSymmetric {
		return nil, errorf(ErrUnsupported, "KeySpec %s is not supported by kmsnode yet; only SYMMETRIC_DEFAULT keys can be created.", spec)
	}
	usage := req.KeyUsage
	if usage == "" {
		usage = keyUsageEncryptDecrypt
	}
	if usage != keyUsageEncryptDecrypt {
		return nil, validation("keyUsage", usage, "KeyUsage "+usage+" is not compatible with KeySpec SYMMETRIC_DEFAULT; use ENCRYPT_DECRYPT.")
	}
	switch req.Origin {
	case "", originAWSKMS:
	default:
		return nil, errorf(ErrUnsupported, "Origin %s is not supported by kmsnode yet; only AWS_KMS keys can be created.", req.Origin)
	}
	if req.CustomKeyStoreId != "" || req.XksKeyId != "" {
		return nil, errorf(ErrCustomKeyStoreNotFound, "Custom key store %s does not exist: kmsnode has no custom key stores.", req.CustomKeyStoreId)
	}
	multi := req.MultiRegion != nil && *req.MultiRegion
	ri := RequestFrom(ctx)
	ri.PolicyContext = append(ri.PolicyContext,
		policy.ContextEntry{Key: "kms:KeySpec", Values: []string{spec}},
		policy.ContextEntry{Key: "kms:KeyUsage", Values: []string{usage}},
		policy.ContextEntry{Key: "kms:KeyOrigin", Values: []string{originAWSKMS}},
		policy.ContextEntry{Key: "kms:MultiRegion", Values: []string{strconv.FormatBool(multi)}},
	)
	if err := s.authorizeAccount(ctx, "kms:CreateKey"); err != nil {
		return nil, err
	}
	if len(req.Tags) > 0 {
		// AWS asks for kms:TagResource too when a key is created with tags.
		if err := s.authorizeAccount(ctx, "kms:TagResource"); err != nil {
			return nil, err
		}
	}
	doc := req.Policy
	if doc == "" {
		doc = policy.DefaultKeyPolicy(s.cfg.Partition, s.cfg.AccountID)
	} else if err := checkPolicy(doc); err != nil {
		return nil, err
	}
	tags, err := checkTags(req.Tags)
	if err != nil {
		return nil, err
	}
	id, err := s.newKeyID(ctx, multi)
	if err != nil {
		return nil, err
	}
	if req.Policy != "" && !(req.BypassPolicyLockoutSafetyCheck != nil && *req.BypassPolicyLockoutSafetyCheck) {
		if err := s.lockoutCheck(ctx, doc, id); err != nil {
			return nil, err
		}
	}
	r := s.req(ctx)
	mat, err := s.newMaterial(id, 1, r.At, "")
	if err != nil {
		return nil, err
	}
	key := fsm.Key{
		ID: id, CreatedAt: r.At, Description: req.Description,
		Usage: usage, Spec: spec, Origin: originAWSKMS, Manager: keyManagerCustomer,
		MultiRegion: multi, State: fsm.StateEnabled, Policy: doc, Tags: tags,
		Materials: []fsm.Material{mat},
	}
	if err := s.apply(ctx, &fsm.CreateKey{Req: r, Key: key}); err != nil {
		return nil, err
	}
	RequestFrom(ctx).KeyARN = s.keyARN(id)
	k, ok := s.fsm.Key(id)
	if !ok {
		// Committed, but not applied here yet: a follower whose leader
		// failed right after the commit hears of it from the next leader.
		// A lease renewal catches up; failing that the answer is retryable
		// (a retry with the same invocation ID returns this key), never
		// NotFound for a key that exists.
		if err := s.cluster.RenewLease(ctx); err != nil {
			return nil, ErrNoLease
		}
		if k, ok = s.fsm.Key(id); !ok {
			return nil, ErrNoLease
		}
	}
	return &wire.CreateKeyResponse{KeyMetadata: s.metadata(k)}, nil
}

// newKeyID returns a fresh key ID, or, for a call the client may retry (it
// sent an idempotency ID), an ID derived from that ID: a retry then names
// the key the first attempt created, which the FSM's request table finds.
func (s *Service) newKeyID(ctx context.Context, multi bool) (string, error) {
	idem := RequestFrom(ctx).IdempotencyID
	if idem == "" {
		return crypto.NewKeyID(multi)
	}
	sum := sha256.Sum256([]byte("kmsnode/key-id/v1\x00" + idem))
	ref := crypto.KeyRef{Type: crypto.RefTypeUUID}
	if multi {
		ref.Type = crypto.RefTypeMRK
	}
	copy(ref.ID[:], sum[:16])
	if !multi {
		ref.ID[6] = ref.ID[6]&0x0f | 0x40 // UUID version 4 layout
		ref.ID[8] = ref.ID[8]&0x3f | 0x80
	}
	return ref.String(), nil
}
