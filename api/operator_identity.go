package api

import (
	"context"
	"fmt"

	"github.com/kmsnode/kmsnode/kms"
)

// identityRoutes are the identity administration operations
// (KmsNodeOperator.CreateIdentity …, kms/identity.go). Each operation
// authorizes itself as kmsnode:<Operation>.
func identityRoutes(k *kms.Service) map[string]route {
	r := func(h handler, max int) route { return route{handle: h, maxBody: max, selfAuthorized: true} }
	return map[string]route{
		operatorPrefix + "CreateIdentity":       r(adminOp(k.CreateIdentity), policyBody),
		operatorPrefix + "DeleteIdentity":       r(adminOp(k.DeleteIdentity), smallBody),
		operatorPrefix + "GetIdentity":          r(adminOp(k.GetIdentity), smallBody),
		operatorPrefix + "ListIdentities":       r(adminOp(k.ListIdentities), smallBody),
		operatorPrefix + "CreateAccessKey":      r(adminOp(k.CreateAccessKey), smallBody),
		operatorPrefix + "DeleteAccessKey":      r(adminOp(k.DeleteAccessKey), smallBody),
		operatorPrefix + "PutIdentityPolicy":    r(adminOp(k.PutIdentityPolicy), policyBody),
		operatorPrefix + "GetIdentityPolicy":    r(adminOp(k.GetIdentityPolicy), smallBody),
		operatorPrefix + "DeleteIdentityPolicy": r(adminOp(k.DeleteIdentityPolicy), smallBody),
	}
}

// adminOp adapts a kmsnode administration operation: the request is decoded
// with the same strict rules as the AWS operations (codec.go); the
// operation validates its own members.
func adminOp[Req any, Resp any](fn func(context.Context, *Req) (Resp, error)) handler {
	return func(ctx context.Context, body []byte) (any, error) {
		req := new(Req)
		if len(body) > 0 {
			if err := decodeRequest(body, req); err != nil {
				return nil, fmt.Errorf("%w: %v", errSerialization, err)
			}
		}
		auditContext(ctx, req)
		resp, err := fn(ctx, req)
		auditResponse(ctx, resp) // identifiers only (audit_params.go): never a secret
		return resp, err
	}
}

// grantTokens returns the GrantTokens member of a request, if it has one.
func grantTokens(req any) []string {
	if g, ok := req.(interface{ GetGrantTokens() []string }); ok {
		return g.GetGrantTokens()
	}
	return nil
}
