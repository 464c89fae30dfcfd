package kms

import (
	"context"
	"strings"

	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// Grant-based authorization. authorizeKey (authz.go) asks the grants only
// when neither the key policy nor the identity policies decided the call: an
// explicit Deny in a policy wins over any grant, as in AWS.

// grantAllows reports whether a grant on k lets principal perform op (an
// API operation name; ReEncrypt is asked as "ReEncryptFrom" and
// "ReEncryptTo", each GenerateDataKey* variant by its own name) with the
// request's encryption context ec. A grant allows when it names principal
// as grantee (policy.MatchPrincipal: the ARN itself, or a session of the
// named role), lists op, and its constraints hold for ec:
// EncryptionContextEquals is the exact same map, EncryptionContextSubset
// has every pair in ec. Constraints do not apply to DescribeKey, as AWS
// documents.
//
// CreateGrant and RetireGrant are never allowed here: a grant's CreateGrant
// only allows grants no wider than itself, which depends on the grant being
// created (grantsAllow), and its RetireGrant only allows retiring that one
// grant (RetireGrant).
//
// It allocates nothing unless the grantee is a role and the caller one of
// its sessions (BenchmarkGrantAllows).
func grantAllows(k *fsm.Key, principal, op string, ec map[string]string) bool {
	if principal == "" || op == "CreateGrant" || op == "RetireGrant" {
		return false
	}
	session := isRoleSession(principal)
	for i := range k.Grants {
		g := &k.Grants[i]
		if !grantee(g.GranteePrincipal, principal, session) || !g.HasOperation(op) {
			continue
		}
		if op == "DescribeKey" || contextMeets(g.Constraints, ec) {
			return true
		}
	}
	return false
}

// grantsAllow is grantAllows for a call in progress: for CreateGrant it
// judges the grant being created (attached to ctx by CreateGrant).
func (s *Service) grantsAllow(ctx context.Context, k *fsm.Key, op string, ec map[string]string) bool {
	principal := RequestFrom(ctx).Principal
	if op == "CreateGrant" {
		ng, _ := ctx.Value(newGrantKey{}).(*fsm.Grant)
		return ng != nil && grantAllowsGrant(k, principal, ng)
	}
	return grantAllows(k, principal, op, ec)
}

// newGrantKey carries the grant a CreateGrant call proposes to grantsAllow.
type newGrantKey struct{}

func withNewGrant(ctx context.Context, g *fsm.Grant) context.Context {
	return context.WithValue(ctx, newGrantKey{}, g)
}

// grantAllowsGrant reports whether a grant on k with the CreateGrant
// operation lets principal create ng: AWS lets such a grantee create grants
// for the same operations or fewer, with constraints as strict as its own
// or stricter.
func grantAllowsGrant(k *fsm.Key, principal string, ng *fsm.Grant) bool {
	if principal == "" {
		return false
	}
	session := isRoleSession(principal)
	for i := range k.Grants {
		g := &k.Grants[i]
		if !grantee(g.GranteePrincipal, principal, session) || !g.HasOperation("CreateGrant") {
			continue
		}
		if coversOperations(g, ng.Operations) && atLeastAsStrict(ng.Constraints, g.Constraints) {
			return true
		}
	}
	return false
}

func coversOperations(g *fsm.Grant, ops []string) bool {
	for _, op := range ops {
		if !g.HasOperation(op) {
			return false
		}
	}
	return true
}

// atLeastAsStrict reports whether every context the child constraints
// admit is admitted by the parent's: a parent Equals needs the same Equals;
// a parent Subset needs a child Equals or Subset that contains its pairs.
func atLeastAsStrict(child, parent *fsm.GrantConstraints) bool {
	if parent == nil {
		return true
	}
	if child == nil {
		return len(parent.EncryptionContextEquals) == 0 && len(parent.EncryptionContextSubset) == 0
	}
	if len(parent.EncryptionContextEquals) > 0 && !sameContext(child.EncryptionContextEquals, parent.EncryptionContextEquals) {
		return false
	}
	if len(parent.EncryptionContextSubset) > 0 {
		switch {
		case len(child.EncryptionContextEquals) > 0:
			if !containsPairs(child.EncryptionContextEquals, parent.EncryptionContextSubset) {
				return false
			}
		case !containsPairs(child.EncryptionContextSubset, parent.EncryptionContextSubset):
			return false
		}
	}
	return true
}

// granteeIs is policy.MatchPrincipal with the common answers found without
// it: the same ARN, or no chance of a role session match.
func granteeIs(named, principal string) bool {
	return grantee(named, principal, isRoleSession(principal))
}

// grantee is granteeIs with isRoleSession(principal) worked out once for a
// scan of many grants.
func grantee(named, principal string, session bool) bool {
	if named == principal {
		return true
	}
	return session && strings.Contains(named, ":role/") && policy.MatchPrincipal(named, principal)
}

// isRoleSession reports whether principal may be an STS assumed-role
// session, the only caller a grant can name by another ARN (its role's).
func isRoleSession(principal string) bool { return strings.Contains(principal, ":assumed-role/") }

// contextMeets reports whether ec satisfies the constraints c (nil: none).
func contextMeets(c *fsm.GrantConstraints, ec map[string]string) bool {
	if c == nil {
		return true
	}
	if c.EncryptionContextEquals != nil && !sameContext(ec, c.EncryptionContextEquals) {
		return false
	}
	return containsPairs(ec, c.EncryptionContextSubset)
}

// sameContext compares two contexts exactly (keys and values are
// case-sensitive, as AWS compares them).
func sameContext(a, b map[string]string) bool {
	return len(a) == len(b) && containsPairs(a, b)
}

// containsPairs reports whether every pair of want is in have.
func containsPairs(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// withGrantTokens makes the grants that tokens name usable at once, which
// is what AWS grant tokens are for: when a token names a grant of k that
// this node's copy of k does not have yet (created through another node a
// moment ago), the read lease is renewed once (cluster.RenewLease: every
// write acknowledged before now is then applied here) and k read again.
// Tokens of other keys are ignored (ReEncrypt passes the tokens of both of
// its keys); a malformed token is InvalidGrantTokenException. A token grants
// nothing by itself: authorization always reads the grant from the key.
func (s *Service) withGrantTokens(ctx context.Context, k *fsm.Key, tokens []string) (*fsm.Key, error) {
	missing := false
	for _, t := range tokens {
		keyID, grantID, err := parseGrantToken(t)
		if err != nil {
			return nil, err
		}
		if keyID == k.ID && k.Grant(grantID) == nil {
			missing = true
		}
	}
	if !missing {
		return k, nil
	}
	if err := s.cluster.RenewLease(ctx); err != nil {
		// Without a renewal the grant may still arrive by replication; the
		// call goes on with what this node has and is authorized on that.
		return k, nil
	}
	if nk, ok := s.fsm.Key(k.ID); ok {
		return nk, nil
	}
	return k, nil
}
