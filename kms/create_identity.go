package kms

import (
	"context"
	"regexp"

	"github.com/kmsnode/kmsnode/fsm"
)

// CreateIdentityRequest creates a user or role, by default with one access
// key whose secret the answer shows once.
type CreateIdentityRequest struct {
	Identity       string        `json:"Identity"` // "alice", "user/alice", "role/app" or an ARN
	Tags           []IdentityTag `json:"Tags,omitempty"`
	NoAccessKey    bool          `json:"NoAccessKey,omitempty"`
	PolicyName     string        `json:"PolicyName,omitempty"` // optional first inline policy
	PolicyDocument string        `json:"PolicyDocument,omitempty"`
}

// CreateIdentityResponse is the new identity and, unless NoAccessKey, its
// access key with the secret.
type CreateIdentityResponse struct {
	Identity  IdentityInfo   `json:"Identity"`
	AccessKey *AccessKeyInfo `json:"AccessKey,omitempty"`
}

// CreateIdentity is KmsNodeOperator.CreateIdentity.
func (s *Service) CreateIdentity(ctx context.Context, req *CreateIdentityRequest) (*CreateIdentityResponse, error) {
	arn, typ, name, err := s.identityARN(req.Identity)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeResource(ctx, "kmsnode:CreateIdentity", arn); err != nil {
		return nil, err
	}
	if typ == fsm.IdentityRoot {
		return nil, validation("Identity", req.Identity, "The account root identity is created with the region and cannot be created again")
	}
	if s.operators[arn] {
		// A key policy or grant naming the operator credential's principal
		// must not start to mean a new identity of the same name.
		return nil, validation("Identity", req.Identity, "The name belongs to an operator credential of this node's configuration")
	}
	tags, err := identityTags(req.Tags)
	if err != nil {
		return nil, err
	}
	r := s.req(ctx)
	id := fsm.Identity{ARN: arn, Type: typ, Name: name, CreatedAt: r.At, Tags: tags}
	if req.PolicyName != "" || req.PolicyDocument != "" {
		if err := checkInlinePolicyName(req.PolicyName); err != nil {
			return nil, err
		}
		if err := checkIdentityPolicy(req.PolicyDocument); err != nil {
			return nil, err
		}
		id.Policies = []fsm.NamedPolicy{{Name: req.PolicyName, Document: req.PolicyDocument}}
	}
	resp := &CreateIdentityResponse{}
	if !req.NoAccessKey {
		ak, secret, err := s.newAccessKey(r.At)
		if err != nil {
			return nil, err
		}
		id.AccessKeys = []fsm.AccessKey{ak}
		resp.AccessKey = &AccessKeyInfo{AccessKeyId: ak.ID, SecretAccessKey: secret, CreatedAt: unixSeconds(ak.CreatedAt)}
	}
	if err := s.cluster.Apply(ctx, &fsm.CreateIdentity{Req: r, Identity: id}); err != nil {
		return nil, s.identityError(err, arn)
	}
	resp.Identity = s.identityInfo(&id)
	return resp, nil
}

// identityTags validates principal tags (IAM's limits: 50 tags, keys of 1 to
// 128 and values of 0 to 256 characters, unique keys).
func identityTags(in []IdentityTag) ([]fsm.Tag, error) {
	if len(in) > fsm.MaxTagsPerIdentity {
		return nil, errorf(ErrLimitExceeded, "An identity can have at most %d tags.", fsm.MaxTagsPerIdentity)
	}
	seen := map[string]bool{}
	out := make([]fsm.Tag, 0, len(in))
	for _, t := range in {
		if len(t.TagKey) < 1 || len(t.TagKey) > 128 || len(t.TagValue) > 256 || seen[t.TagKey] {
			return nil, validation("Tags", t.TagKey, "Tag keys must be unique and 1 to 128 characters; values at most 256")
		}
		seen[t.TagKey] = true
		out = append(out, fsm.Tag{Key: t.TagKey, Value: t.TagValue})
	}
	return out, nil
}

// inlinePolicyNameRE is IAM's inline policy name pattern.
var inlinePolicyNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,128}$`)

// checkInlinePolicyName validates an inline policy name.
func checkInlinePolicyName(name string) error {
	if !inlinePolicyNameRE.MatchString(name) {
		return validation("PolicyName", name, `Member must satisfy regular expression pattern: [\w+=,.@-]{1,128}`)
	}
	return nil
}
