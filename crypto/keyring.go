package crypto

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
)

// Sealed material format (design notes §5.2):
//
//	term uint32 BE ‖ nonce(12) ‖ AES-256-GCM(term key, material, AAD) ‖ tag(16)
//
// with AAD as appendSealAAD describes.
const (
	termSize        = 4
	sealedOverhead  = termSize + nonceSize + tagSize
	sealedNonceFrom = termSize
	sealedCTFrom    = termSize + nonceSize
)

var errNoActiveTerm = errors.New("crypto: keyring has no active term")

// Keyring holds the region keyring terms, the 32-byte AES keys that seal key
// material at rest, in memory. It is safe for concurrent use. Lookups are
// lock-free: writers publish a new immutable snapshot of the terms.
//
// The zero Keyring is empty and usable, but [NewKeyring] is the usual
// constructor.
type Keyring struct {
	mu    sync.Mutex                   // serialises writers
	state atomic.Pointer[keyringState] // never mutated once published
	// loader, when set, is asked for a term a blob names but the keyring
	// lacks (SetTermLoader).
	loader atomic.Pointer[func(term uint32) bool]
}

// SetTermLoader installs fn, which [Keyring.OpenMaterial] calls when a blob
// names a term the keyring does not hold: fn may [Keyring.Add] it (a term
// added on another node of the region since this one unsealed) and reports
// whether it did. Nil removes the loader.
func (k *Keyring) SetTermLoader(fn func(term uint32) bool) {
	if fn == nil {
		k.loader.Store(nil)
		return
	}
	k.loader.Store(&fn)
}

type keyringState struct {
	active uint32
	terms  map[uint32]*keyringTerm
}

// keyringTerm is one term: the raw key, kept only so that Wipe can zero it,
// and the AEAD built from it once at Add. Seal and open use only the AEAD.
type keyringTerm struct {
	key  []byte
	aead cipher.AEAD
}

var emptyKeyring = &keyringState{}

// NewKeyring returns an empty keyring with no active term.
func NewKeyring() *Keyring {
	k := &Keyring{}
	k.state.Store(emptyKeyring)
	return k
}

func (k *Keyring) load() *keyringState {
	if s := k.state.Load(); s != nil {
		return s
	}
	return emptyKeyring
}

// Add stores a copy of key as term number term. Terms start at 1; adding a
// term that is already present replaces its key. Add does not change the
// active term.
//
// Add panics if term is 0 or key is not 32 bytes: term keys are generated and
// unsealed by kmsnode itself, so either is a bug, not bad input.
func (k *Keyring) Add(term uint32, key []byte) {
	if term == 0 {
		panic("crypto: keyring term 0 is reserved")
	}
	if len(key) != KeySize {
		panic("crypto: keyring term key must be 32 bytes")
	}
	t := &keyringTerm{key: append([]byte(nil), key...)}
	aead, err := newGCM(t.key)
	if err != nil {
		panic("crypto: keyring: " + err.Error()) // unreachable for a 32-byte key
	}
	t.aead = aead

	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.load()
	next := &keyringState{active: old.active, terms: maps.Clone(old.terms)}
	if next.terms == nil {
		next.terms = make(map[uint32]*keyringTerm, 1)
	}
	replaced := next.terms[term]
	next.terms[term] = t
	k.state.Store(next)
	if replaced != nil {
		// Readers only use the AEAD, never the raw key, so this is safe
		// even while one still holds the replaced term.
		Zero(replaced.key)
	}
}

// SetActive chooses the term that new seals use. The term may be added
// before or after; [Keyring.SealMaterial] fails while it is not present.
func (k *Keyring) SetActive(term uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.load()
	k.state.Store(&keyringState{active: term, terms: old.terms})
}

// Active returns the term that new seals use, or 0 if none was set.
func (k *Keyring) Active() uint32 {
	return k.load().active
}

// Wipe zeroes every term key held and forgets all terms and the active
// term. Seals already in progress on other goroutines still complete.
func (k *Keyring) Wipe() {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.load()
	k.state.Store(emptyKeyring)
	for _, t := range old.terms {
		Zero(t.key)
	}
}

// SealMaterial seals material (customer key material, or another secret such
// as the region's replication private key) under the active term, binding
// aad:
//
//	term(4, BE) ‖ nonce(12) ‖ AES-256-GCM(term key, material) ‖ tag(16)
//
// It fails when no active term is set or the active term is not loaded.
func (k *Keyring) SealMaterial(material []byte, aad SealAAD) ([]byte, error) {
	st := k.load()
	if st.active == 0 {
		return nil, errNoActiveTerm
	}
	t := st.terms[st.active]
	if t == nil {
		return nil, fmt.Errorf("crypto: active keyring term %d is not loaded", st.active)
	}
	return sealMaterialWith(t.aead, st.active, material, aad, nil)
}

// sealMaterialWith seals under aead as term number term; a nil nonce is read
// from crypto/rand. Only tests pass a fixed one.
func sealMaterialWith(aead cipher.AEAD, term uint32, material []byte, aad SealAAD, nonce []byte) ([]byte, error) {
	aadLen, err := sealAADLen(aad)
	if err != nil {
		return nil, err
	}
	if uint64(len(material)) > maxPlaintext {
		return nil, errTooLarge
	}
	// The AAD lives past the end of the returned slice, as in encryptWith.
	n := sealedOverhead + len(material)
	out := make([]byte, sealedCTFrom, n+aadLen)
	binary.BigEndian.PutUint32(out, term)
	switch {
	case nonce == nil:
		rand.Read(out[sealedNonceFrom:sealedCTFrom])
	case len(nonce) == nonceSize:
		copy(out[sealedNonceFrom:], nonce)
	default:
		return nil, errSaltNonce
	}
	ad := appendSealAAD(out[n:n], aad)
	out = aead.Seal(out, out[sealedNonceFrom:sealedCTFrom], material, ad)
	return out[:n:n], nil
}

// OpenMaterial opens a blob made by [Keyring.SealMaterial] with the term it
// names and the same aad. An unknown term, a different aad or any tampering
// yields [ErrUnseal]. The caller owns the returned material and must [Zero]
// it when done.
func (k *Keyring) OpenMaterial(sealed []byte, aad SealAAD) ([]byte, error) {
	if len(sealed) < sealedOverhead {
		return nil, ErrUnseal
	}
	term := binary.BigEndian.Uint32(sealed)
	t := k.load().terms[term]
	if t == nil {
		if l := k.loader.Load(); l != nil && (*l)(term) {
			t = k.load().terms[term]
		}
		if t == nil {
			return nil, ErrUnseal
		}
	}
	aadLen, err := sealAADLen(aad)
	if err != nil {
		return nil, ErrUnseal
	}
	n := len(sealed) - sealedOverhead
	buf := make([]byte, n, n+aadLen)
	ad := appendSealAAD(buf[n:n], aad)
	pt, err := t.aead.Open(buf[:0], sealed[sealedNonceFrom:sealedCTFrom], sealed[sealedCTFrom:], ad)
	if err != nil {
		return nil, ErrUnseal
	}
	return pt[:n:n], nil
}
