package crypto

import (
	"bytes"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
)

// sealKAT pins the sealed material format (term 3, nonce 0x50.., key 0x60..).
const sealKAT = "00000003" + "505152535455565758595a5b" +
	"1670836a23272861670f4b8880fea5ddf8df78bf762a7dd9d720276bff5548c8" +
	"97097ff10ebc35111b134bbfce728c18"

var testSealAAD = SealAAD{Region: "eu-west-1", KeyID: testUUID, Version: 2, Purpose: "material"}

func newTestKeyring(t testing.TB) *Keyring {
	t.Helper()
	k := NewKeyring()
	k.Add(1, seq(0x10, 32))
	k.Add(3, seq(0x60, 32))
	k.SetActive(3)
	return k
}

func mustSeal(t testing.TB, k *Keyring, m []byte, aad SealAAD) []byte {
	t.Helper()
	s, err := k.SealMaterial(m, aad)
	if err != nil {
		t.Fatalf("SealMaterial: %v", err)
	}
	return s
}

func TestSealMaterial_KnownAnswer(t *testing.T) {
	k := newTestKeyring(t)
	st := k.load()
	got, err := sealMaterialWith(st.terms[3].aead, 3, seq(0xa0, 32), testSealAAD, seq(0x50, 12))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != sealKAT {
		t.Fatalf("sealed format drifted: %x", got)
	}
	// Independent check: plain AES-256-GCM with the documented AAD.
	gcm, _ := newGCM(seq(0x60, 32))
	ref := gcm.Seal(mustHex(t, "00000003505152535455565758595a5b"), seq(0x50, 12), seq(0xa0, 32),
		[]byte("kmsnode/seal/v1\x00\x00\x00\x09eu-west-1\x00\x00\x00\x24"+testUUID+"\x00\x00\x00\x02\x00\x00\x00\x08material"))
	if !bytes.Equal(ref, got) {
		t.Fatalf("reference disagrees: %x", ref)
	}
	m, err := k.OpenMaterial(mustHex(t, sealKAT), testSealAAD)
	if err != nil || !bytes.Equal(m, seq(0xa0, 32)) {
		t.Fatalf("OpenMaterial = %x, %v", m, err)
	}
}

func TestKeyring_RoundTrip(t *testing.T) {
	k := newTestKeyring(t)
	for _, n := range []int{0, 1, 32, 100} {
		m := seq(byte(n), n)
		s := mustSeal(t, k, m, testSealAAD)
		if len(s) != n+32 || cap(s) != len(s) {
			t.Fatalf("len %d cap %d for %d bytes", len(s), cap(s), n)
		}
		if s[3] != 3 {
			t.Fatalf("sealed under term %x, want 3", s[:4])
		}
		got, err := k.OpenMaterial(s, testSealAAD)
		if err != nil || !bytes.Equal(got, m) || cap(got) != len(got) {
			t.Fatalf("OpenMaterial = %x, %v", got, err)
		}
	}
}

func TestKeyring_OldTermsStillOpen(t *testing.T) {
	k := newTestKeyring(t)
	old := mustSeal(t, k, seq(1, 32), testSealAAD)
	k.Add(4, seq(0x70, 32))
	k.SetActive(4)
	if k.Active() != 4 {
		t.Fatalf("Active = %d", k.Active())
	}
	if s := mustSeal(t, k, seq(1, 32), testSealAAD); s[3] != 4 {
		t.Fatalf("new seal under term %x", s[:4])
	}
	if _, err := k.OpenMaterial(old, testSealAAD); err != nil {
		t.Fatalf("term 3 blob after rotation: %v", err)
	}
}

func TestKeyring_SwapAAD(t *testing.T) {
	k := newTestKeyring(t)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	swaps := map[string]SealAAD{
		"region":  {Region: "eu-west-2", KeyID: testSealAAD.KeyID, Version: 2, Purpose: "material"},
		"key":     {Region: "eu-west-1", KeyID: "mrk-0123456789abcdef0123456789abcdef", Version: 2, Purpose: "material"},
		"version": {Region: "eu-west-1", KeyID: testSealAAD.KeyID, Version: 3, Purpose: "material"},
		"purpose": {Region: "eu-west-1", KeyID: testSealAAD.KeyID, Version: 2, Purpose: "hpke"},
		"zero":    {},
		// Length prefixes keep field boundaries: moving a byte between
		// neighbouring fields changes the AAD.
		"shift": {Region: "eu-west-1" + testUUID[:1], KeyID: testUUID[1:], Version: 2, Purpose: "material"},
	}
	for name, aad := range swaps {
		if m, err := k.OpenMaterial(s, aad); err != ErrUnseal || m != nil {
			t.Errorf("%s: OpenMaterial = %x, %v", name, m, err)
		}
	}
}

func TestKeyring_Tamper(t *testing.T) {
	k := newTestKeyring(t)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	for i := range s {
		b := bytes.Clone(s)
		b[i] ^= 0x04
		if _, err := k.OpenMaterial(b, testSealAAD); err != ErrUnseal {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	for n := range s {
		if _, err := k.OpenMaterial(s[:n], testSealAAD); err != ErrUnseal {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

func TestKeyring_UnknownTerm(t *testing.T) {
	k := newTestKeyring(t)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	s[3] = 2
	if _, err := k.OpenMaterial(s, testSealAAD); err != ErrUnseal {
		t.Fatalf("unknown term: %v", err)
	}
	// Another loaded term with a different key does not open it.
	s[3] = 1
	if _, err := k.OpenMaterial(s, testSealAAD); err != ErrUnseal {
		t.Fatalf("other term: %v", err)
	}
	// The term number is only an index, not bound in the AAD: the same key
	// loaded under another number opens the blob. Harmless, but documented.
	k.Add(9, seq(0x60, 32))
	s[3] = 9
	if _, err := k.OpenMaterial(s, testSealAAD); err != nil {
		t.Fatalf("same key, other term number: %v", err)
	}
}

func TestKeyring_NoActiveTerm(t *testing.T) {
	k := NewKeyring()
	if k.Active() != 0 {
		t.Fatalf("Active = %d", k.Active())
	}
	if _, err := k.SealMaterial(seq(1, 32), testSealAAD); err == nil {
		t.Fatal("sealed with no active term")
	}
	k.SetActive(5)
	if _, err := k.SealMaterial(seq(1, 32), testSealAAD); err == nil || !strings.Contains(err.Error(), "term 5") {
		t.Fatalf("active term not loaded: %v", err)
	}
	k.Add(5, seq(0x10, 32))
	mustSeal(t, k, seq(1, 32), testSealAAD)

	var zero Keyring
	if _, err := zero.SealMaterial(nil, testSealAAD); err == nil {
		t.Fatal("zero Keyring sealed")
	}
	if _, err := zero.OpenMaterial(make([]byte, 64), testSealAAD); err != ErrUnseal {
		t.Fatalf("zero Keyring: %v", err)
	}
	zero.Add(1, seq(0x10, 32))
	zero.SetActive(1)
	mustSeal(t, &zero, nil, testSealAAD)
}

func TestKeyring_AddCopiesKey(t *testing.T) {
	key := seq(0x10, 32)
	k := NewKeyring()
	k.Add(1, key)
	k.SetActive(1)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	Zero(key)
	if _, err := k.OpenMaterial(s, testSealAAD); err != nil {
		t.Fatalf("keyring kept a reference to the caller's key: %v", err)
	}
}

func TestKeyring_AddPanics(t *testing.T) {
	for name, f := range map[string]func(*Keyring){
		"term 0":    func(k *Keyring) { k.Add(0, seq(0, 32)) },
		"short key": func(k *Keyring) { k.Add(1, seq(0, 16)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(NewKeyring())
		}()
	}
}

func TestKeyring_Wipe(t *testing.T) {
	k := newTestKeyring(t)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	held := k.load().terms
	k.Wipe()
	for term, tk := range held {
		if !bytes.Equal(tk.key, make([]byte, 32)) {
			t.Errorf("term %d key not zeroed", term)
		}
	}
	if k.Active() != 0 {
		t.Errorf("Active = %d after Wipe", k.Active())
	}
	if _, err := k.OpenMaterial(s, testSealAAD); err != ErrUnseal {
		t.Errorf("OpenMaterial after Wipe: %v", err)
	}
	if _, err := k.SealMaterial(seq(1, 32), testSealAAD); err == nil {
		t.Error("SealMaterial after Wipe succeeded")
	}
	// Reloading the term brings the blob back.
	k.Add(3, seq(0x60, 32))
	if _, err := k.OpenMaterial(s, testSealAAD); err != nil {
		t.Errorf("after reload: %v", err)
	}
	k.Wipe()
	k.Wipe() // idempotent
}

func TestKeyring_Concurrent(t *testing.T) {
	k := newTestKeyring(t)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				switch {
				case g == 0 && i%50 == 0:
					k.Add(uint32(10+i), seq(byte(i), 32))
					k.SetActive(uint32(10 + i))
				case g == 1 && i == 150:
					k.Wipe()
					k.Add(3, seq(0x60, 32))
				default:
					if sealed, err := k.SealMaterial(seq(2, 32), testSealAAD); err == nil {
						// Whatever term sealed it, the blob opens unless
						// that term was wiped in between.
						_, _ = k.OpenMaterial(sealed, testSealAAD)
					}
					_, _ = k.OpenMaterial(s, testSealAAD)
				}
			}
		})
	}
	wg.Wait()
	if _, err := k.OpenMaterial(s, testSealAAD); err != nil {
		t.Fatalf("term 3 blob at the end: %v", err)
	}
}

func TestKeyring_AddReplaces(t *testing.T) {
	k := newTestKeyring(t)
	s := mustSeal(t, k, seq(1, 32), testSealAAD)
	old := k.load().terms[3]
	k.Add(3, seq(0x61, 32))
	if !bytes.Equal(old.key, make([]byte, 32)) {
		t.Error("replaced term key not zeroed")
	}
	if k.Active() != 3 {
		t.Errorf("Active = %d", k.Active())
	}
	if _, err := k.OpenMaterial(s, testSealAAD); err != ErrUnseal {
		t.Errorf("blob of the replaced key: %v", err)
	}
	// Re-adding the same key (an FSM replay) keeps blobs readable.
	k.Add(3, seq(0x60, 32))
	k.Add(3, seq(0x60, 32))
	if _, err := k.OpenMaterial(s, testSealAAD); err != nil {
		t.Errorf("after re-adding the same key: %v", err)
	}
}
