package kms

import (
	"context"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/crypto"
)

// GenerateRandom returns 1–1024 random bytes from the node's CSPRNG.
func (s *Service) GenerateRandom(ctx context.Context, req *wire.GenerateRandomRequest) (*wire.GenerateRandomResponse, error) {
	if err := s.authorizeAccount(ctx, "kms:GenerateRandom"); err != nil {
		return nil, err
	}
	if req.CustomKeyStoreId != "" {
		return nil, errorf(ErrCustomKeyStoreNotFound, "Custom key store %s does not exist: kmsnode has no custom key stores.", req.CustomKeyStoreId)
	}
	if req.Recipient != nil {
		return nil, errorf(ErrUnsupported, "Recipient (Nitro Enclaves attestation) is not supported by kmsnode.")
	}
	if req.NumberOfBytes == nil {
		return nil, &Error{Kind: ErrValidation, Msg: wire.NewNullError("numberOfBytes").Msg}
	}
	b, err := crypto.Random(int(*req.NumberOfBytes))
	if err != nil {
		return nil, err
	}
	return &wire.GenerateRandomResponse{Plaintext: b}, nil
}
