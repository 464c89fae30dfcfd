package crypto

import "strconv"

// The AAD strings of the region's seal hierarchy (design-notes §5.2). They
// bind each wrapped key to its region and role, so a wrapped root key or
// keyring term cannot be moved to another region or slot.

// RootAAD is the AAD of the region root key wrapped by an unseal provider.
func RootAAD(region, provider string) []byte {
	return []byte("kmsnode/root/v1\x00" + region + "\x00" + provider)
}

// TermAAD is the AAD of keyring term n wrapped under the root key.
func TermAAD(region string, n uint32) []byte {
	return []byte("kmsnode/term/v1\x00" + region + "\x00" + strconv.FormatUint(uint64(n), 10))
}
