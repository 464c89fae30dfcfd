package kms

import (
	"sync"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// materialCache holds opened key material per (key, version) so the hot path
// does not unseal on every call. Entries are zeroed when their key is deleted,
// the FSM is restored or the service closes; versions are immutable, so
// entries never go stale. Readers get a copy taken under the lock, so zeroing
// an entry never changes material a request is using.
type materialCache struct {
	mu sync.RWMutex
	m  map[matKey][]byte
}

type matKey struct {
	id string
	v  uint32
}

func (c *materialCache) init() { c.m = map[matKey][]byte{} }

// get copies the material of (id, v) into dst and reports whether it was
// cached.
func (c *materialCache) get(id string, v uint32, dst *[crypto.KeySize]byte) bool {
	c.mu.RLock()
	b, ok := c.m[matKey{id, v}]
	if ok {
		copy(dst[:], b)
	}
	c.mu.RUnlock()
	return ok
}

// put stores b (taking ownership) unless the entry exists.
func (c *materialCache) put(id string, v uint32, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[matKey{id, v}]; ok {
		crypto.Zero(b)
		return
	}
	c.m[matKey{id, v}] = b
}

func (c *materialCache) forgetKey(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, b := range c.m {
		if k.id == id {
			crypto.Zero(b)
			delete(c.m, k)
		}
	}
}

func (c *materialCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, b := range c.m {
		crypto.Zero(b)
		delete(c.m, k)
	}
}

// material copies the opened material of version m of key k into dst. The
// caller owns dst and zeroes it when done.
func (s *Service) material(k *fsm.Key, m *fsm.Material, dst *[crypto.KeySize]byte) error {
	if s.materials.get(k.ID, m.Version, dst) {
		return nil
	}
	b, err := s.keyring.OpenMaterial(m.Sealed, crypto.SealAAD{Region: s.cfg.Region, KeyID: k.ID, Version: m.Version, Purpose: purposeMaterial})
	if err != nil || len(b) != crypto.KeySize {
		crypto.Zero(b)
		s.log.Error("cannot open key material", "key", k.ID, "version", m.Version, "err", err)
		return errorf(ErrSealed, "The key material of this KMS key cannot be opened on this node.")
	}
	copy(dst[:], b)
	s.materials.put(k.ID, m.Version, b)
	return nil
}
