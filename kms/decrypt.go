package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// Decrypt decrypts a ciphertext made by Encrypt, GenerateDataKey* or
// ReEncrypt. The blob names its key; KeyId is optional and, if given, must
// name the same key.
func (s *Service) Decrypt(ctx context.Context, req *wire.DecryptRequest) (*wire.DecryptResponse, error) {
	if req.Recipient != nil {
		return nil, errorf(ErrUnsupported, "Recipient (Nitro Enclaves attestation) is not supported by kmsnode.")
	}
	k, ver, pt, err := s.open(ctx, "Decrypt", req.CiphertextBlob, req.EncryptionContext, req.KeyId)
	if err != nil {
		return nil, err
	}
	if err := s.checkAlgorithm(req.EncryptionAlgorithm, k.ID); err != nil {
		zero(pt)
		return nil, err
	}
	if dryRun(req.DryRun) {
		zero(pt)
		return nil, errorf(ErrDryRun, msgDryRun)
	}
	return &wire.DecryptResponse{Plaintext: pt, KeyId: s.keyARN(k.ID), EncryptionAlgorithm: algSymmetric, KeyMaterialId: materialID(k.ID, ver)}, nil
}

func zero(b []byte) { clear(b) }
