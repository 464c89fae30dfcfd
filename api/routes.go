package api

import (
	"context"
	"fmt"

	"github.com/kmsnode/kmsnode/kms"
)

// handler runs one operation on a raw JSON body.
type handler func(ctx context.Context, body []byte) (any, error)

// route is one row of the table: the handler and the largest body it takes.
type route struct {
	handle  handler
	maxBody int
	// selfAuthorized: the operation checks the caller's permission itself
	// (every KMS operation and the identity operations do). Operator
	// routes without it are authorized by the server as kmsnode:<Name>.
	selfAuthorized bool
	// unauthenticated: served without SigV4, also by a sealed node
	// (Unseal and SealStatus only, operator_seal.go).
	unauthenticated bool
}

// Body limits: crypto requests carry at most a 6144-byte blob or 4096-byte
// plaintext plus a context; policy requests carry up to 131072 characters.
const (
	smallBody  = 64 << 10
	policyBody = 1 << 20
	maxBody    = policyBody
)

// routes is the one table of operations, keyed by the X-Amz-Target suffix.
// Operations of the AWS model missing here answer UnsupportedOperation.
func routes(k *kms.Service) map[string]route {
	small := func(h handler) route { return route{handle: h, maxBody: smallBody, selfAuthorized: true} }
	return map[string]route{
		"CreateKey":                       {handle: op(k.CreateKey), maxBody: policyBody, selfAuthorized: true},
		"DescribeKey":                     small(op(k.DescribeKey)),
		"ListKeys":                        small(op(k.ListKeys)),
		"UpdateKeyDescription":            small(op(k.UpdateKeyDescription)),
		"EnableKey":                       small(op(k.EnableKey)),
		"DisableKey":                      small(op(k.DisableKey)),
		"ScheduleKeyDeletion":             small(op(k.ScheduleKeyDeletion)),
		"CancelKeyDeletion":               small(op(k.CancelKeyDeletion)),
		"Encrypt":                         small(op(k.Encrypt)),
		"Decrypt":                         small(op(k.Decrypt)),
		"ReEncrypt":                       small(op(k.ReEncrypt)),
		"GenerateDataKey":                 small(op(k.GenerateDataKey)),
		"GenerateDataKeyWithoutPlaintext": small(op(k.GenerateDataKeyWithoutPlaintext)),
		"GenerateRandom":                  small(op(k.GenerateRandom)),
		"CreateAlias":                     small(op(k.CreateAlias)),
		"UpdateAlias":                     small(op(k.UpdateAlias)),
		"DeleteAlias":                     small(op(k.DeleteAlias)),
		"ListAliases":                     small(op(k.ListAliases)),
		"TagResource":                     small(op(k.TagResource)),
		"UntagResource":                   small(op(k.UntagResource)),
		"ListResourceTags":                small(op(k.ListResourceTags)),
		"EnableKeyRotation":               small(op(k.EnableKeyRotation)),
		"DisableKeyRotation":              small(op(k.DisableKeyRotation)),
		"GetKeyRotationStatus":            small(op(k.GetKeyRotationStatus)),
		"RotateKeyOnDemand":               small(op(k.RotateKeyOnDemand)),
		"ListKeyRotations":                small(op(k.ListKeyRotations)),
		"GetKeyPolicy":                    small(op(k.GetKeyPolicy)),
		"PutKeyPolicy":                    {handle: op(k.PutKeyPolicy), maxBody: policyBody, selfAuthorized: true},
		"ListKeyPolicies":                 small(op(k.ListKeyPolicies)),
		"ListGrants":                      small(op(k.ListGrants)),
		"CreateGrant":                     small(op(k.CreateGrant)),
		"ListRetirableGrants":             small(op(k.ListRetirableGrants)),
		"RetireGrant":                     small(op(k.RetireGrant)),
		"RevokeGrant":                     small(op(k.RevokeGrant)),
	}
}

// writes are the operations that change state; they get an idempotency ID.
var writes = map[string]bool{
	"CreateKey": true, "UpdateKeyDescription": true, "EnableKey": true, "DisableKey": true,
	"ScheduleKeyDeletion": true, "CancelKeyDeletion": true, "CreateAlias": true,
	"UpdateAlias": true, "DeleteAlias": true, "TagResource": true, "UntagResource": true,
	"EnableKeyRotation": true, "DisableKeyRotation": true, "RotateKeyOnDemand": true,
	"PutKeyPolicy": true,
	// Grants.
	"CreateGrant": true, "RetireGrant": true, "RevokeGrant": true,
}

// validator is implemented by every api/wire request shape.
type validator interface{ Validate() error }

// op adapts a kms operation to a handler: decode JSON into the request
// shape, check the model's constraints, run, and wipe secrets in the
// request afterwards.
func op[Req any, PReq interface {
	*Req
	validator
}, Resp any](fn func(context.Context, PReq) (Resp, error)) handler {
	return func(ctx context.Context, body []byte) (any, error) {
		req := PReq(new(Req))
		if len(body) > 0 {
			if err := decodeRequest(body, req); err != nil {
				return nil, fmt.Errorf("%w: %v", errSerialization, err)
			}
		}
		defer wipeRequest(req)
		auditContext(ctx, req) // before Validate: a refused request is logged with what it asked
		if err := req.Validate(); err != nil {
			return nil, err
		}
		kms.RequestFrom(ctx).GrantTokens = grantTokens(req)
		resp, err := fn(ctx, req)
		auditResponse(ctx, resp)
		return resp, err
	}
}
