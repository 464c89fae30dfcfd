package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
)

// ReEncrypt decrypts a ciphertext and encrypts the plaintext under another
// key or context inside the service; the plaintext never leaves it.
func (s *Service) ReEncrypt(ctx context.Context, req *wire.ReEncryptRequest) (*wire.ReEncryptResponse, error) {
	src, srcVer, pt, err := s.open(ctx, "ReEncryptFrom", req.CiphertextBlob, req.SourceEncryptionContext, req.SourceKeyId)
	if err != nil {
		return nil, err
	}
	defer zero(pt)
	if err := s.checkAlgorithm(req.SourceEncryptionAlgorithm, src.ID); err != nil {
		return nil, err
	}
	srcARN := s.keyARN(src.ID)
	dst, err := s.cryptoKey(ctx, "ReEncryptTo", req.DestinationKeyId, req.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	if err := s.checkAlgorithm(req.DestinationEncryptionAlgorithm, dst.ID); err != nil {
		return nil, err
	}
	ri := RequestFrom(ctx)
	ri.KeyARN, ri.Resources = s.keyARN(dst.ID), append(ri.Resources, srcARN)
	if dryRun(req.DryRun) {
		return nil, errorf(ErrDryRun, msgDryRun)
	}
	blob, err := s.seal(dst, pt, req.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	return &wire.ReEncryptResponse{
		CiphertextBlob: blob, SourceKeyId: srcARN, KeyId: s.keyARN(dst.ID),
		SourceEncryptionAlgorithm: algSymmetric, DestinationEncryptionAlgorithm: algSymmetric,
		SourceKeyMaterialId:      materialID(src.ID, srcVer),
		DestinationKeyMaterialId: materialID(dst.ID, dst.Current().Version),
	}, nil
}
