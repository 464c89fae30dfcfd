package kms

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// Grant constraint limits (AWS: "Each constraint value can include up to 8
// encryption context pairs. The encryption context value in each constraint
// cannot exceed 384 characters.").
const (
	maxConstraintPairs = 8
	maxConstraintChars = 384
)

// Grant operations by what a key can do. Every key allows the three grant
// management operations; the rest depends on its usage (and, for
// encryption keys, on whether it is symmetric).
var (
	grantOpsManagement = []string{"CreateGrant", "RetireGrant", "DescribeKey"}
	grantOpsByUsage    = map[string][]string{
		keyUsageEncryptDecrypt: {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
			"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"},
		"SIGN_VERIFY":         {"Sign", "Verify", "GetPublicKey"},
		"GENERATE_VERIFY_MAC": {"GenerateMac", "VerifyMac"},
		"KEY_AGREEMENT":       {"DeriveSharedSecret", "GetPublicKey"},
	}
	grantOpsAsymmetricEncryption = []string{"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}
)

// CreateGrant adds a grant to a key and returns its ID and a grant token.
// With a Name, repeating the call with the same parameters returns the
// grant already created (and a new token for it).
func (s *Service) CreateGrant(ctx context.Context, req *wire.CreateGrantRequest) (*wire.CreateGrantResponse, error) {
	if len(req.Operations) == 0 {
		return nil, validation("operations", "", "Member must have length greater than or equal to 1")
	}
	if err := s.checkGrantPrincipal(req.GranteePrincipal); err != nil {
		return nil, err
	}
	if req.RetiringPrincipal != "" {
		if err := s.checkGrantPrincipal(req.RetiringPrincipal); err != nil {
			return nil, err
		}
	}
	k, err := s.findKey(ctx, req.KeyId, keyOnly)
	if err != nil {
		return nil, err
	}
	// The checks that depend on the key (its spec and usage) answer only a
	// caller allowed to create grants on it: authorization comes first, on
	// the grant as asked, and a refused caller learns nothing of the key.
	ops := uniqueOperations(req.Operations)
	verr := s.checkGrantOperations(k, ops)
	var constraints *fsm.GrantConstraints
	if verr == nil {
		constraints, verr = s.checkConstraints(k, ops, req.Constraints)
	}
	r := s.req(ctx)
	id, err := newGrantID(RequestFrom(ctx).IdempotencyID)
	if err != nil {
		return nil, err
	}
	g := fsm.Grant{
		ID: id, Name: req.Name, GranteePrincipal: req.GranteePrincipal, RetiringPrincipal: req.RetiringPrincipal,
		Operations: ops, Constraints: constraints, IssuingAccount: s.rootARN(), CreatedAt: r.At,
	}
	if err := s.authorizeKey(grantConditions(ctx, &g), "CreateGrant", k, constraintContext(constraints)); err != nil {
		return nil, err
	}
	if verr != nil {
		return nil, verr
	}
	if err := s.notPendingDeletion(k); err != nil {
		return nil, err
	}
	if dryRun(req.DryRun) {
		return nil, errorf(ErrDryRun, msgDryRun)
	}
	if err := s.apply(ctx, &fsm.CreateGrant{Req: r, KeyID: k.ID, Grant: g}); err != nil {
		return nil, err
	}
	grantID := s.createdGrantID(ctx, k.ID, &g)
	token, err := newGrantToken(k.ID, grantID)
	if err != nil {
		return nil, err
	}
	return &wire.CreateGrantResponse{GrantId: grantID, GrantToken: token}, nil
}

// createdGrantID is the ID of the grant a successful CreateGrant stands
// for: the proposed one, or, when the FSM found a grant of the same name and
// parameters, that one. The command is applied here before Apply returns,
// except on a follower whose leader failed right after the commit: one lease
// renewal catches up.
func (s *Service) createdGrantID(ctx context.Context, keyID string, g *fsm.Grant) string {
	find := func() (string, bool) {
		k, ok := s.fsm.Key(keyID)
		if !ok {
			return "", false
		}
		if k.Grant(g.ID) != nil {
			return g.ID, true
		}
		if g.Name != "" {
			for i := range k.Grants {
				if k.Grants[i].Name == g.Name && k.Grants[i].SameAs(g) {
					return k.Grants[i].ID, true
				}
			}
		}
		return "", false
	}
	if id, ok := find(); ok {
		return id
	}
	if s.cluster.RenewLease(ctx) == nil {
		if id, ok := find(); ok {
			return id
		}
	}
	// Created, then retired or revoked (or its key deleted) before this
	// answer: the proposed ID is the grant that was created.
	return g.ID
}

// grantConditions adds CreateGrant's condition keys (kms:GrantOperations,
// kms:GranteePrincipal, kms:RetiringPrincipal, kms:GrantConstraintType) to
// the request and attaches the proposed grant for grant-based
// authorization.
func grantConditions(ctx context.Context, g *fsm.Grant) context.Context {
	ri := RequestFrom(ctx)
	ri.PolicyContext = append(ri.PolicyContext,
		policy.ContextEntry{Key: "kms:GrantOperations", Values: g.Operations},
		policy.ContextEntry{Key: "kms:GranteePrincipal", Values: []string{g.GranteePrincipal}},
	)
	if g.RetiringPrincipal != "" {
		ri.PolicyContext = append(ri.PolicyContext, policy.ContextEntry{Key: "kms:RetiringPrincipal", Values: []string{g.RetiringPrincipal}})
	}
	if c := g.Constraints; c != nil {
		var types []string
		if len(c.EncryptionContextEquals) > 0 {
			types = append(types, "EncryptionContextEquals")
		}
		if len(c.EncryptionContextSubset) > 0 {
			types = append(types, "EncryptionContextSubset")
		}
		ri.PolicyContext = append(ri.PolicyContext, policy.ContextEntry{Key: "kms:GrantConstraintType", Values: types})
	}
	return withNewGrant(ctx, g)
}

// constraintContext is the encryption context a CreateGrant request is
// judged by: AWS applies kms:EncryptionContext:<key> and
// kms:EncryptionContextKeys conditions to the grant's constraints.
func constraintContext(c *fsm.GrantConstraints) map[string]string {
	if c == nil {
		return nil
	}
	if len(c.EncryptionContextSubset) == 0 {
		return c.EncryptionContextEquals
	}
	if len(c.EncryptionContextEquals) == 0 {
		return c.EncryptionContextSubset
	}
	ec := maps.Clone(c.EncryptionContextSubset)
	maps.Copy(ec, c.EncryptionContextEquals)
	return ec
}

// uniqueOperations drops repeated operations, keeping the first order.
func uniqueOperations(ops []string) []string {
	out := make([]string, 0, len(ops))
	for _, op := range ops {
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	return out
}

// grantOperationsFor lists the grant operations key k supports.
func grantOperationsFor(k *fsm.Key) []string {
	ops := grantOpsByUsage[k.Usage]
	if k.Usage == keyUsageEncryptDecrypt && k.Spec != keySpecSymmetric {
		ops = grantOpsAsymmetricEncryption
	}
	return append(slices.Clone(ops), grantOpsManagement...)
}

// checkGrantOperations refuses operations the key cannot perform, as AWS
// does (a Sign grant on a symmetric encryption key).
func (s *Service) checkGrantOperations(k *fsm.Key, ops []string) error {
	valid := grantOperationsFor(k)
	for _, op := range ops {
		if !slices.Contains(valid, op) {
			return errorf(ErrValidation, "Grant operation %s is not valid for %s (%s key, usage %s); valid operations are %s.",
				op, s.keyARN(k.ID), k.Spec, k.Usage, strings.Join(valid, ", "))
		}
	}
	return nil
}

// checkConstraints validates encryption context constraints and returns
// them in the FSM's form (nil for none). They are allowed only on symmetric
// encryption keys and with operations that take an encryption context (and
// the management operations, to which they do not apply).
func (s *Service) checkConstraints(k *fsm.Key, ops []string, c *wire.GrantConstraints) (*fsm.GrantConstraints, error) {
	if c == nil || c.EncryptionContextEquals == nil && len(c.EncryptionContextSubset) == 0 {
		return nil, nil
	}
	if k.Usage != keyUsageEncryptDecrypt || k.Spec != keySpecSymmetric {
		return nil, errorf(ErrValidation, "Grant constraints are valid only for symmetric encryption keys; %s is a %s key.", s.keyARN(k.ID), k.Spec)
	}
	for _, op := range ops {
		if !slices.Contains(grantOpsByUsage[keyUsageEncryptDecrypt], op) && !slices.Contains(grantOpsManagement, op) {
			return nil, errorf(ErrValidation, "Grant constraints are not valid with operation %s: it takes no encryption context.", op)
		}
	}
	if c.EncryptionContextEquals != nil && len(c.EncryptionContextEquals) == 0 {
		// An empty Equals would mean "only with no context"; kmsnode
		// stores constraints without empty maps, so refuse rather than
		// store a wider grant than was asked for.
		return nil, validation("constraints.encryptionContextEquals", "", "Member must have at least 1 entry; omit it to set no constraint")
	}
	for _, m := range []struct {
		name string
		ec   map[string]string
	}{{"encryptionContextEquals", c.EncryptionContextEquals}, {"encryptionContextSubset", c.EncryptionContextSubset}} {
		if len(m.ec) > maxConstraintPairs {
			return nil, validation("constraints."+m.name, "", "Member must have at most "+strconv.Itoa(maxConstraintPairs)+" entries")
		}
		for key, v := range m.ec {
			if key == "" || utf8.RuneCountInString(key) > maxConstraintChars || utf8.RuneCountInString(v) > maxConstraintChars {
				return nil, validation("constraints."+m.name, "", "Each key must have 1 to "+strconv.Itoa(maxConstraintChars)+" characters and each value at most "+strconv.Itoa(maxConstraintChars))
			}
		}
	}
	return (&fsm.GrantConstraints{
		EncryptionContextEquals: maps.Clone(c.EncryptionContextEquals),
		EncryptionContextSubset: maps.Clone(c.EncryptionContextSubset),
	}).Normalized(), nil
}

// checkGrantPrincipal accepts the ARN of an AWS principal of this
// partition: an account root, an IAM user or role, an STS assumed-role
// session or federated user. AWS answers anything else with
// InvalidArnException.
func (s *Service) checkGrantPrincipal(p string) error {
	bad := errorf(ErrInvalidArn, "ARN does not refer to a valid principal: %s", p)
	f := strings.SplitN(p, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] != s.cfg.Partition || f[3] != "" || len(f[4]) != 12 || strings.Trim(f[4], "0123456789") != "" {
		return bad
	}
	res := f[5]
	switch f[2] {
	case "iam":
		if res == "root" {
			return nil
		}
		if kind, name, ok := strings.Cut(res, "/"); ok && (kind == "user" || kind == "role") && validPathName(name) {
			return nil
		}
	case "sts":
		if rest, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			if role, session, ok := strings.Cut(rest, "/"); ok && role != "" && session != "" && !strings.Contains(session, "/") {
				return nil
			}
		}
		if name, ok := strings.CutPrefix(res, "federated-user/"); ok && name != "" && !strings.Contains(name, "/") {
			return nil
		}
	}
	return bad
}

// validPathName accepts an IAM "path/name" tail: non-empty segments.
func validPathName(s string) bool {
	if s == "" {
		return false
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" {
			return false
		}
	}
	return true
}
