package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/crypto"
)

// dataKeySize applies GenerateDataKey's rule: exactly one of KeySpec
// (AES_128, AES_256) and NumberOfBytes (1–1024, checked by the model).
func dataKeySize(spec string, n *int32) (int, error) {
	switch {
	case spec != "" && n != nil:
		return 0, validation("keySpec", spec, "Specify either KeySpec or NumberOfBytes, not both.")
	case spec == "AES_256":
		return 32, nil
	case spec == "AES_128":
		return 16, nil
	case n != nil:
		return int(*n), nil
	}
	return 0, validation("keySpec", "", "Specify either KeySpec or NumberOfBytes.")
}

// generateDataKey returns a fresh data key and its ciphertext under the KMS
// key. The plaintext belongs to the caller (who zeroes it when done).
func (s *Service) generateDataKey(ctx context.Context, op, keyID string, spec string, n *int32, ec map[string]string, dry *bool) (pt, blob []byte, arn, matID string, err error) {
	size, err := dataKeySize(spec, n)
	if err != nil {
		return nil, nil, "", "", err
	}
	k, err := s.cryptoKey(ctx, op, keyID, ec)
	if err != nil {
		return nil, nil, "", "", err
	}
	if dryRun(dry) {
		return nil, nil, "", "", errorf(ErrDryRun, msgDryRun)
	}
	pt, err = crypto.Random(size)
	if err != nil {
		return nil, nil, "", "", err
	}
	blob, err = s.seal(k, pt, ec)
	if err != nil {
		zero(pt)
		return nil, nil, "", "", err
	}
	return pt, blob, s.keyARN(k.ID), materialID(k.ID, k.Current().Version), nil
}

// GenerateDataKey returns a data key in plaintext and encrypted under a KMS
// key, for envelope encryption. kmsnode never stores it.
func (s *Service) GenerateDataKey(ctx context.Context, req *wire.GenerateDataKeyRequest) (*wire.GenerateDataKeyResponse, error) {
	if req.Recipient != nil {
		return nil, errorf(ErrUnsupported, "Recipient (Nitro Enclaves attestation) is not supported by kmsnode.")
	}
	pt, blob, arn, matID, err := s.generateDataKey(ctx, "GenerateDataKey", req.KeyId, req.KeySpec, req.NumberOfBytes, req.EncryptionContext, req.DryRun)
	if err != nil {
		return nil, err
	}
	return &wire.GenerateDataKeyResponse{CiphertextBlob: blob, Plaintext: pt, KeyId: arn, KeyMaterialId: matID}, nil
}
