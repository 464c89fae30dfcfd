package api

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// wipeRequest zeroes plaintext a client sent once the operation is done.
func wipeRequest(req any) {
	if r, ok := req.(*wire.EncryptRequest); ok {
		clear(r.Plaintext)
	}
}

// wipeResponse zeroes plaintexts and data keys of a response once written.
func wipeResponse(resp any) {
	switch r := resp.(type) {
	case *wire.DecryptResponse:
		clear(r.Plaintext)
	case *wire.GenerateDataKeyResponse:
		clear(r.Plaintext)
	case *wire.GenerateRandomResponse:
		clear(r.Plaintext)
	}
}

// auditContext records the encryption context of a request for the audit
// record (contexts are not secret; AWS logs them in CloudTrail).
func auditContext(ctx context.Context, req any) {
	rec, ok := ctx.Value(auditKey{}).(*callAudit)
	if !ok {
		return
	}
	switch r := req.(type) {
	case *wire.EncryptRequest:
		rec.ec = r.EncryptionContext
	case *wire.DecryptRequest:
		rec.ec = r.EncryptionContext
	case *wire.GenerateDataKeyRequest:
		rec.ec = r.EncryptionContext
	case *wire.GenerateDataKeyWithoutPlaintextRequest:
		rec.ec = r.EncryptionContext
	case *wire.ReEncryptRequest:
		rec.ec = r.DestinationEncryptionContext
	}
}
