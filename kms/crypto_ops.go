package kms

import (
	"context"
	"errors"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// The shared steps of the cryptographic operations. All of them run on the
// node that received the request, from its FSM, under its read lease.

// cryptoKey admits a crypto operation, resolves its key and checks that the
// caller may perform op on it with encryption context ec.
func (s *Service) cryptoKey(ctx context.Context, op, ref string, ec map[string]string) (*fsm.Key, error) {
	if err := s.admit(ctx); err != nil {
		return nil, err
	}
	k, err := s.findKey(ctx, ref, keyOrAlias)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, op, k, ec); err != nil {
		return nil, err
	}
	return k, s.usableForCrypto(k)
}

// admit is the read-lease and seal gate of every crypto operation. A lapsed
// lease (the renewal loop fell behind under load) gets one synchronous
// renewal before the request is refused.
func (s *Service) admit(ctx context.Context) error {
	if s.Sealed() {
		return errorf(ErrSealed, "This node is sealed. Retry the request; another node may serve it.")
	}
	if err := s.cluster.ReadReady(); err == nil {
		return nil
	}
	return s.cluster.RenewLease(ctx)
}

// seal encrypts plaintext under the current material of k.
func (s *Service) seal(k *fsm.Key, plaintext []byte, ec map[string]string) ([]byte, error) {
	cur := k.Current()
	var mat [crypto.KeySize]byte
	defer clear(mat[:])
	if err := s.material(k, cur, &mat); err != nil {
		return nil, err
	}
	ref, err := crypto.ParseKeyID(k.ID)
	if err != nil {
		return nil, err
	}
	blob, err := crypto.Encrypt(mat[:], crypto.Header{Ref: ref, Version: cur.Version}, plaintext, ec)
	if errors.Is(err, crypto.ErrInvalidContext) {
		return nil, validation("encryptionContext", "", "The encryption context is invalid (UTF-8, at most 65535 bytes per key or value, 8192 bytes in all).")
	}
	return blob, err
}

// open decrypts a ciphertext blob for op (Decrypt, ReEncryptFrom). wantRef,
// if not empty, is the KeyId the caller named: a blob of another key is
// IncorrectKeyException. Every other failure is the one
// InvalidCiphertextException.
//
// A caller who may not use the blob's key is told AccessDeniedException in
// the same words whether the key exists or not: for an unknown key the
// identity policies alone are asked, and a caller they do not allow is
// denied exactly as an existing key's policy would deny it.
func (s *Service) open(ctx context.Context, op string, blob []byte, ec map[string]string, wantRef string) (*fsm.Key, uint32, []byte, error) {
	if err := s.admit(ctx); err != nil {
		return nil, 0, nil, err
	}
	invalid := errorf(ErrInvalidCiphertext, msgInvalidCiphertext)
	h, err := crypto.ParseHeader(blob)
	if err != nil {
		return nil, 0, nil, invalid
	}
	id := h.Ref.String()
	// unknown answers a blob whose key this region does not hold: the
	// same as a forged blob (or the KeyId's NotFound) to a caller who could
	// have used such a key, the one AccessDenied text to anyone else.
	unknown := func(err error) error {
		if s.authorizeResource(ctx, kmsAction(op), s.keyARN(id)) != nil {
			return s.denied(RequestFrom(ctx), kmsAction(op), s.keyARN(id), op, false)
		}
		return err
	}
	if wantRef != "" {
		want, err := s.findKey(ctx, wantRef, keyOrAlias)
		if err != nil {
			if isNotFound(err) {
				return nil, 0, nil, unknown(err)
			}
			return nil, 0, nil, err
		}
		if want.ID != id {
			return nil, 0, nil, errorf(ErrIncorrectKey, msgIncorrectKey)
		}
	}
	k, ok := s.fsm.Key(id)
	if !ok && s.cluster.RenewLease(ctx) == nil {
		k, ok = s.fsm.Key(id)
	}
	if !ok {
		return nil, 0, nil, unknown(invalid)
	}
	RequestFrom(ctx).KeyARN = s.keyARN(id)
	if err := s.authorizeKey(ctx, op, k, ec); err != nil {
		return nil, 0, nil, err
	}
	if err := s.usableForCrypto(k); err != nil {
		return nil, 0, nil, err
	}
	m := k.MaterialVersion(h.Version)
	if m == nil {
		return nil, 0, nil, invalid
	}
	var mat [crypto.KeySize]byte
	defer clear(mat[:])
	if err := s.material(k, m, &mat); err != nil {
		return nil, 0, nil, err
	}
	pt, err := crypto.Decrypt(mat[:], blob, ec)
	if err != nil {
		return nil, 0, nil, invalid
	}
	return k, h.Version, pt, nil
}

func dryRun(v *bool) bool { return v != nil && *v }
