package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// Encrypt encrypts up to 4096 bytes under a symmetric key.
func (s *Service) Encrypt(ctx context.Context, req *wire.EncryptRequest) (*wire.EncryptResponse, error) {
	k, err := s.cryptoKey(ctx, "Encrypt", req.KeyId, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if err := s.checkAlgorithm(req.EncryptionAlgorithm, k.ID); err != nil {
		return nil, err
	}
	if dryRun(req.DryRun) {
		return nil, errorf(ErrDryRun, msgDryRun)
	}
	blob, err := s.seal(k, req.Plaintext, req.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return &wire.EncryptResponse{CiphertextBlob: blob, KeyId: s.keyARN(k.ID), EncryptionAlgorithm: algSymmetric}, nil
}
