package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// GenerateDataKeyWithoutPlaintext returns only the encrypted data key.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, req *wire.GenerateDataKeyWithoutPlaintextRequest) (*wire.GenerateDataKeyWithoutPlaintextResponse, error) {
	pt, blob, arn, matID, err := s.generateDataKey(ctx, "GenerateDataKeyWithoutPlaintext", req.KeyId, req.KeySpec, req.NumberOfBytes, req.EncryptionContext, req.DryRun)
	if err != nil {
		return nil, err
	}
	zero(pt)
	return &wire.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: blob, KeyId: arn, KeyMaterialId: matID}, nil
}
