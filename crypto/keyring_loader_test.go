package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// A blob sealed under a term another keyring added (another node, after a
// keyring rotation) opens once the loader adds that term; without a loader,
// or when it cannot, it fails as any unknown term does.
func TestKeyring_TermLoader(t *testing.T) {
	k1, k2 := seq(0x10, 32), seq(0x30, 32)
	writer := NewKeyring()
	writer.Add(1, k1)
	writer.Add(2, k2)
	writer.SetActive(2)
	blob, err := writer.SealMaterial(seq(0x60, 32), testSealAAD)
	if err != nil {
		t.Fatal(err)
	}
	reader := NewKeyring()
	reader.Add(1, k1)
	reader.SetActive(1)
	if _, err := reader.OpenMaterial(blob, testSealAAD); !errors.Is(err, ErrUnseal) {
		t.Fatalf("unknown term without a loader: %v", err)
	}
	var asked []uint32
	reader.SetTermLoader(func(term uint32) bool {
		asked = append(asked, term)
		return false
	})
	if _, err := reader.OpenMaterial(blob, testSealAAD); !errors.Is(err, ErrUnseal) {
		t.Fatalf("loader that cannot load: %v", err)
	}
	reader.SetTermLoader(func(term uint32) bool {
		asked = append(asked, term)
		reader.Add(term, k2)
		return true
	})
	pt, err := reader.OpenMaterial(blob, testSealAAD)
	if err != nil || !bytes.Equal(pt, seq(0x60, 32)) {
		t.Fatalf("after loading: %x, %v", pt, err)
	}
	if _, err := reader.OpenMaterial(blob, testSealAAD); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0] != 2 || asked[1] != 2 {
		t.Fatalf("loader asked for %v, want [2 2] (not again once loaded)", asked)
	}
	reader.SetTermLoader(nil)
	reader.Wipe()
	if _, err := reader.OpenMaterial(blob, testSealAAD); !errors.Is(err, ErrUnseal) {
		t.Fatalf("after Wipe and no loader: %v", err)
	}
}
