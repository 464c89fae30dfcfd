package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/crypto"
)

// Unsealer is an unseal provider: it wraps and unwraps the region root key
// (design-notes §5.2). The wrapped root key lives in the FSM under
// fsm.Seal.WrappedRoot[Name()], so several providers can hold a copy at
// once (a migration from file to pkcs11 keeps both until the old one is
// removed).
//
// aad binds a wrapped root key to its region and provider
// (crypto.RootAAD); a provider that cannot take associated data itself (an
// HSM's key wrap, a remote KMS) must bind it another way (the KMS
// encryption context, or an outer AES-GCM layer). Unwrap returns a fresh
// buffer the caller zeroes.
type Unsealer interface {
	Name() string
	Wrap(ctx context.Context, root, aad []byte) ([]byte, error)
	Unwrap(ctx context.Context, wrapped, aad []byte) ([]byte, error)
}

// KEKUnsealer is an Unsealer whose key-encryption key is in this process's
// memory: the file, env and shamir providers. It copies kek; Wipe zeroes
// the copy.
type KEKUnsealer struct {
	name string
	kek  []byte
}

// NewKEKUnsealer returns an unsealer for provider name using a copy of kek.
func NewKEKUnsealer(name string, kek []byte) *KEKUnsealer {
	return &KEKUnsealer{name: name, kek: append([]byte(nil), kek...)}
}

// Name implements Unsealer.
func (u *KEKUnsealer) Name() string { return u.name }

// Wrap implements Unsealer with AES-256-GCM under the KEK.
func (u *KEKUnsealer) Wrap(_ context.Context, root, aad []byte) ([]byte, error) {
	return crypto.Wrap(u.kek, root, aad)
}

// Unwrap implements Unsealer.
func (u *KEKUnsealer) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	return crypto.Unwrap(u.kek, wrapped, aad)
}

// Wipe zeroes the KEK.
func (u *KEKUnsealer) Wipe() { crypto.Zero(u.kek) }
