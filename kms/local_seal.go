package kms

import (
	"errors"
	"fmt"

	"github.com/kmsnode/kmsnode/crypto"
)

// purposeLocalPrefix starts the SealAAD.Purpose of secrets a node keeps in
// its own data directory, so that such a blob and key material (purpose
// "key-material") can never be opened as one another.
const purposeLocalPrefix = "local/"

// SealLocal seals a secret that this node keeps outside Raft, in its data
// directory (the audit signing key), under the region keyring. purpose
// says what the secret is for and name which one it is (the node ID, for a
// per-node secret); both are bound as associated data, so the blob opens
// only with the same two. Whoever can read the data directory but lacks
// the unseal key cannot open it. It fails while the node is sealed.
func (s *Service) SealLocal(purpose, name string, plaintext []byte) ([]byte, error) {
	if err := checkLocal(purpose, name); err != nil {
		return nil, err
	}
	if s.Sealed() {
		return nil, errorf(ErrSealed, "This node is sealed and cannot seal a local secret.")
	}
	return s.keyring.SealMaterial(plaintext, s.localAAD(purpose, name))
}

// OpenLocal opens a blob made by [Service.SealLocal] with the same purpose
// and name. The caller owns the result and must zero it. A blob sealed for
// another purpose, name or region, damaged, or sealed under a keyring term
// this region does not have yields crypto.ErrUnseal.
func (s *Service) OpenLocal(purpose, name string, sealed []byte) ([]byte, error) {
	if err := checkLocal(purpose, name); err != nil {
		return nil, err
	}
	if s.Sealed() {
		return nil, errorf(ErrSealed, "This node is sealed and cannot open a local secret.")
	}
	pt, err := s.keyring.OpenMaterial(sealed, s.localAAD(purpose, name))
	if err != nil {
		return nil, fmt.Errorf("kms: open local secret %s/%s: %w", purpose, name, err)
	}
	return pt, nil
}

func checkLocal(purpose, name string) error {
	if purpose == "" || name == "" {
		return errors.New("kms: a local secret needs a purpose and a name")
	}
	return nil
}

func (s *Service) localAAD(purpose, name string) crypto.SealAAD {
	return crypto.SealAAD{Region: s.cfg.Region, KeyID: name, Purpose: purposeLocalPrefix + purpose}
}
