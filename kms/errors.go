package kms

import (
	"errors"
	"fmt"

	"github.com/kmsnode/kmsnode/cluster"
)

// Domain errors. Each maps to one AWS exception in package api.
var (
	ErrNotFound               = errors.New("kms: not found")
	ErrDisabled               = errors.New("kms: disabled")
	ErrInvalidState           = errors.New("kms: invalid state")
	ErrInvalidCiphertext      = errors.New("kms: invalid ciphertext")
	ErrIncorrectKey           = errors.New("kms: incorrect key")
	ErrInvalidKeyUsage        = errors.New("kms: invalid key usage")
	ErrAlreadyExists          = errors.New("kms: already exists")
	ErrInvalidAliasName       = errors.New("kms: invalid alias name")
	ErrInvalidArn             = errors.New("kms: invalid arn")
	ErrInvalidMarker          = errors.New("kms: invalid marker")
	ErrValidation             = errors.New("kms: validation")
	ErrLimitExceeded          = errors.New("kms: limit exceeded")
	ErrConflict               = errors.New("kms: conflict")
	ErrUnsupported            = errors.New("kms: unsupported operation")
	ErrMalformedPolicy        = errors.New("kms: malformed policy document")
	ErrTag                    = errors.New("kms: tag")
	ErrCustomKeyStoreNotFound = errors.New("kms: custom key store not found")
	ErrDryRun                 = errors.New("kms: dry run")
	ErrSealed                 = errors.New("kms: sealed")
	ErrAccessDenied           = errors.New("kms: access denied")
	ErrInvalidGrantToken      = errors.New("kms: invalid grant token")
	ErrInvalidGrantID         = errors.New("kms: invalid grant id")
)

// Errors of lower layers, aliased rather than redefined.
var (
	ErrNoLease  = cluster.ErrNoLease
	ErrNoLeader = cluster.ErrNoLeader
	// ErrUpgradeInProgress: a change of a newer release while some node of
	// the region still runs an older one (cluster/level.go).
	ErrUpgradeInProgress = cluster.ErrUpgradeInProgress
)

// Error is a domain error with the message the client sees.
type Error struct {
	Kind error  // one of the Err* values above
	Msg  string // client-facing, AWS wording
}

// Error returns the kind and the client-facing message.
func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Msg }

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Fixed messages for Decrypt-side failures: the same text whatever went
// wrong, so the answer tells an attacker nothing.
const (
	msgInvalidCiphertext = "The ciphertext is invalid, was not produced by this region's keys, or the encryption context does not match."
	msgIncorrectKey      = "The key ID in the request does not identify a KMS key that can perform this operation."
	msgDryRun            = "The request would have succeeded, but the DryRun option is set."
)
