package api

import (
	"errors"
	"net/http"

	"github.com/kmsnode/kmsnode/api/sigv4"
	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/kms"
)

// awsError is an error answer: the __type, HTTP status and message.
type awsError struct {
	Type   string
	Status int
	Msg    string
}

// Errors of the HTTP layer itself.
var (
	errUnknownOperation = errors.New("api: unknown operation")
	errSerialization    = errors.New("api: cannot decode request")
	errTooLarge         = errors.New("api: request too large")
	errThrottled        = errors.New("api: rate exceeded")
	errContentType      = errors.New("api: unsupported content type")
	errAuditUnavailable = errors.New("api: the audit log cannot be written")
)

// errorTable maps every domain and protocol error to its AWS answer. It is
// the only place that knows exception names and status codes.
var errorTable = []struct {
	err    error
	typ    string
	status int
}{
	{kms.ErrNotFound, wire.ExcNotFound, 400},
	{kms.ErrDisabled, wire.ExcDisabled, 400},
	{kms.ErrInvalidState, wire.ExcKMSInvalidState, 400},
	{kms.ErrInvalidCiphertext, wire.ExcInvalidCiphertext, 400},
	{kms.ErrIncorrectKey, wire.ExcIncorrectKey, 400},
	{kms.ErrInvalidKeyUsage, wire.ExcInvalidKeyUsage, 400},
	{kms.ErrAlreadyExists, wire.ExcAlreadyExists, 400},
	{kms.ErrInvalidAliasName, wire.ExcInvalidAliasName, 400},
	{kms.ErrInvalidArn, wire.ExcInvalidArn, 400},
	{kms.ErrInvalidMarker, wire.ExcInvalidMarker, 400},
	{kms.ErrValidation, "ValidationException", 400},
	{kms.ErrLimitExceeded, wire.ExcLimitExceeded, 400},
	{kms.ErrConflict, wire.ExcConflict, 400},
	{kms.ErrUnsupported, wire.ExcUnsupportedOperation, 400},
	{kms.ErrMalformedPolicy, wire.ExcMalformedPolicyDocument, 400},
	{kms.ErrTag, wire.ExcTag, 400},
	{kms.ErrCustomKeyStoreNotFound, wire.ExcCustomKeyStoreNotFound, 400},
	{kms.ErrDryRun, wire.ExcDryRunOperation, 412},
	{kms.ErrSealed, wire.ExcKMSInternal, 500},
	{kms.ErrAccessDenied, "AccessDeniedException", 400},
	{kms.ErrInvalidGrantToken, wire.ExcInvalidGrantToken, 400},
	{kms.ErrInvalidGrantID, wire.ExcInvalidGrantId, 400},
	{kms.ErrNoLease, wire.ExcDependencyTimeout, 503},
	{kms.ErrNoLeader, wire.ExcDependencyTimeout, 503},
	{kms.ErrUpgradeInProgress, wire.ExcUnsupportedOperation, 400},
	{sigv4.ErrMissingAuth, "MissingAuthenticationTokenException", 403},
	{sigv4.ErrIncompleteSignature, "IncompleteSignatureException", 400},
	{sigv4.ErrInvalidSignature, "InvalidSignatureException", 400},
	{sigv4.ErrUnrecognizedClient, "UnrecognizedClientException", 400},
	{errUnknownOperation, "UnknownOperationException", 400},
	{errSerialization, "SerializationException", 400},
	{errTooLarge, "ValidationException", 400},
	{errThrottled, "ThrottlingException", 400},
	{errContentType, "UnsupportedMediaTypeException", 415},
	{errAuditUnavailable, wire.ExcKMSInternal, 500},
}

// Fixed messages for errors whose details belong in the log only.
const (
	msgInternal   = "An internal error occurred. Retry the request."
	msgNoLease    = "This node cannot confirm that its key state is current. Retry the request."
	msgNoLeader   = "The region has no leader at the moment. Retry the request."
	msgTooLarge   = "1 validation error detected: the request body exceeds the maximum size for this operation"
	msgSerialize  = "The request body is not valid JSON for this operation."
	msgUnknownOp  = "The operation in X-Amz-Target is not one kmsnode knows."
	msgMissingSig = "Missing Authentication Token"
)

// toAWS converts any error into its AWS answer. Unknown errors become
// KMSInternalException with a generic message; the caller logs the detail.
func toAWS(err error) (awsError, bool) {
	var ve *wire.ValidationError
	if errors.As(err, &ve) {
		return awsError{"ValidationException", 400, ve.Msg}, true
	}
	for _, e := range errorTable {
		if !errors.Is(err, e.err) {
			continue
		}
		a := awsError{Type: e.typ, Status: e.status, Msg: message(err, e.err)}
		return a, true
	}
	return awsError{wire.ExcKMSInternal, http.StatusInternalServerError, msgInternal}, false
}

func message(err, kind error) string {
	var ke *kms.Error
	switch {
	case errors.As(err, &ke):
		return ke.Msg
	case kind == kms.ErrNoLease:
		return msgNoLease
	case kind == kms.ErrNoLeader:
		return msgNoLeader
	case kind == kms.ErrUpgradeInProgress:
		return "The region is being upgraded: this operation needs every node on a release that supports it. Finish the upgrade, then retry."
	case kind == errTooLarge:
		return msgTooLarge
	case kind == errThrottled:
		return "Rate exceeded"
	case kind == errContentType:
		return "Content-Type must be application/x-amz-json-1.1."
	case kind == errAuditUnavailable:
		return "The audit log cannot be written; this node refuses requests it cannot record."
	case kind == errSerialization:
		return msgSerialize
	case kind == errUnknownOperation:
		return msgUnknownOp
	}
	if m := sigv4.Message(err); m != "" {
		return m
	}
	if kind == sigv4.ErrMissingAuth {
		return msgMissingSig
	}
	return msgInternal
}
