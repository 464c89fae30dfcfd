package kms

import (
	"sync"

	"github.com/kmsnode/kmsnode/crypto"
)

// purposeAccessKey is the SealAAD purpose of a sealed secret access key;
// the access key ID takes the KeyID field, so a sealed secret cannot be
// moved to another access key.
const purposeAccessKey = "access-key-secret"

// Credential returns the principal and secret access key of an access key
// of one of the region's identities, for SigV4 verification. The secret is
// opened from its sealed form in the FSM once and cached; a sealed node
// knows no secrets (every signature fails until it is unsealed).
func (s *Service) Credential(akid string) (principal, secret string, ok bool) {
	id, ak, found := s.fsm.IdentityByAccessKey(akid)
	if !found || s.Sealed() {
		return "", "", false
	}
	if sec, hit := s.secrets.get(akid, ak.SealedSecret); hit {
		return id.ARN, sec, true
	}
	raw, err := s.keyring.OpenMaterial(ak.SealedSecret, crypto.SealAAD{Region: s.cfg.Region, KeyID: akid, Purpose: purposeAccessKey})
	if err != nil {
		s.log.Error("cannot open a sealed secret access key", "access_key_id", akid, "err", err)
		return "", "", false
	}
	sec := string(raw) // strings cannot be wiped; the raw copy is
	crypto.Zero(raw)
	s.secrets.put(akid, ak.SealedSecret, sec)
	return id.ARN, sec, true
}

// secretCache maps access key ID → opened secret, checked against the
// sealed blob it came from so a replaced key is opened again.
type secretCache struct {
	mu sync.RWMutex
	m  map[string]cachedSecret
}

type cachedSecret struct {
	sealed string // the sealed blob, as a string for comparison
	secret string
}

const maxCachedSecrets = 10000

func (c *secretCache) get(akid string, sealed []byte) (string, bool) {
	c.mu.RLock()
	e, ok := c.m[akid]
	c.mu.RUnlock()
	if !ok || e.sealed != string(sealed) {
		return "", false
	}
	return e.secret, true
}

func (c *secretCache) put(akid string, sealed []byte, secret string) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSecrets {
		c.m = make(map[string]cachedSecret)
	}
	c.m[akid] = cachedSecret{sealed: string(sealed), secret: secret}
	c.mu.Unlock()
}

// forget drops every cached secret (seal, close).
func (c *secretCache) forget() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
