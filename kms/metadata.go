package kms

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// Values of the key properties kmsnode supports today.
const (
	keyUsageEncryptDecrypt = "ENCRYPT_DECRYPT"
	keySpecSymmetric       = "SYMMETRIC_DEFAULT"
	originAWSKMS           = "AWS_KMS"
	keyManagerCustomer     = "CUSTOMER"
	algSymmetric           = "SYMMETRIC_DEFAULT"
	defaultPolicyName      = "default"
)

// metadata builds the KeyMetadata AWS returns for a key.
func (s *Service) metadata(k *fsm.Key) *wire.KeyMetadata {
	m := &wire.KeyMetadata{
		AWSAccountId:                s.cfg.AccountID,
		KeyId:                       k.ID,
		Arn:                         s.keyARN(k.ID),
		CreationDate:                wire.TimeOf(k.CreatedAt),
		Enabled:                     k.State == fsm.StateEnabled,
		Description:                 k.Description,
		KeyUsage:                    k.Usage,
		KeyState:                    k.State,
		DeletionDate:                wire.TimeOf(k.DeletionDate),
		Origin:                      k.Origin,
		KeyManager:                  k.Manager,
		CustomerMasterKeySpec:       k.Spec,
		KeySpec:                     k.Spec,
		EncryptionAlgorithms:        []string{algSymmetric},
		MultiRegion:                 k.MultiRegion,
		CurrentKeyMaterialId:        materialID(k.ID, k.Current().Version),
		PendingDeletionWindowInDays: int32Ptr(k.PendingWindowDays),
	}
	if k.MultiRegion {
		m.MultiRegionConfiguration = &wire.MultiRegionConfiguration{
			MultiRegionKeyType: "PRIMARY",
			PrimaryKey:         &wire.MultiRegionKey{Arn: m.Arn, Region: s.cfg.Region},
			ReplicaKeys:        []wire.MultiRegionKey{},
		}
	}
	return m
}

// materialID is the 64-hex KeyMaterialId of a material version: a digest of
// the key ID and version, which names the version without revealing anything
// about the material itself.
func materialID(keyID string, version uint32) string {
	h := sha256.Sum256([]byte("kmsnode/material-id\x00" + keyID + "\x00" + strconv.FormatUint(uint64(version), 10)))
	return hex.EncodeToString(h[:])
}

func int32Ptr(v int32) *int32 {
	if v == 0 {
		return nil
	}
	return &v
}
