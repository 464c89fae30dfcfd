package cluster

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/memberlist"
)

// The gossip keyring (design-notes §3.2). Every gossip packet is sealed
// with the keyring's primary key and opened with whichever installed key
// fits, so a region rotates its key without a partition:
//
//  1. install the new key on every node (all can open both),
//  2. use it on every node (all seal with it; stragglers still open it),
//  3. remove the old key from every node (a node knowing only the old key
//     can no longer talk to the pool).
//
// `kmsctl gossip-key` does the three steps in that order. The keyring lives
// in memory only: a restarted node starts from its --gossip-key-file, so
// after a rotation the operator writes the new key into that file on every
// node.

// Errors of GossipKeyring.
var (
	// ErrNoGossip: a standalone node has no gossip pool.
	ErrNoGossip = errors.New("cluster: this node has no gossip pool")
	// ErrBadGossipKey: the key is not 32 bytes.
	ErrBadGossipKey = errors.New("cluster: a gossip key is 32 bytes")
	// ErrGossipKeyNotInstalled: use of a key the keyring lacks.
	ErrGossipKeyNotInstalled = errors.New("cluster: the gossip key is not installed on this node")
	// ErrGossipKeyInUse: removal of the primary key.
	ErrGossipKeyInUse = errors.New("cluster: the gossip key is this node's primary key")
	// ErrGossipKeyringFull: install beyond MaxGossipKeys.
	ErrGossipKeyringFull = errors.New("cluster: the gossip keyring is full")
)

// MaxGossipKeys bounds the keyring: each key is one more trial decryption
// of every packet that does not open with the first.
const MaxGossipKeys = 4

// GossipKey describes one installed key without revealing it.
type GossipKey struct {
	// Fingerprint is "sha256:" and the first 16 hex digits of the key's
	// SHA-256 (GossipKeyFingerprint).
	Fingerprint string `json:"Fingerprint"`
	// Primary: the key this node seals its packets with.
	Primary bool `json:"Primary"`
}

// GossipKeyring is one node's keyring, as GossipKeyring reports it.
type GossipKeyring struct {
	NodeID string      `json:"NodeId"`
	Keys   []GossipKey `json:"Keys"`
}

// GossipKeyFingerprint names a gossip key in listings and logs. A gossip key
// is 32 random bytes, so its hash reveals nothing usable about it.
func GossipKeyFingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// keyringMu serialises changes to any node's keyring in this process
// (removal temporarily takes keys off the ring, see remove).
var keyringMu sync.Mutex

// GossipKeyring changes and lists this node's gossip keyring. op is "list",
// "install", "use" or "remove"; key (32 bytes) is ignored for list. Install,
// use and remove are idempotent, so an interrupted rotation can simply be
// run again. The caller keeps ownership of key: the keyring stores a copy.
// The answer names the node even with an error.
func (c *Cluster) GossipKeyring(op string, key []byte) (GossipKeyring, error) {
	if c.gossip == nil || c.gossip.keys == nil {
		return GossipKeyring{}, ErrNoGossip
	}
	kr, self := c.gossip.keys, GossipKeyring{NodeID: c.cfg.NodeID}
	if op != "list" && len(key) != 32 {
		return self, ErrBadGossipKey
	}
	keyringMu.Lock()
	defer keyringMu.Unlock()
	fp := GossipKeyFingerprint(key)
	switch op {
	case "list":
	case "install":
		if installed(kr, key) == nil {
			if len(kr.GetKeys()) >= MaxGossipKeys {
				return self, fmt.Errorf("%w (%d keys): remove one first", ErrGossipKeyringFull, MaxGossipKeys)
			}
			if err := kr.AddKey(bytes.Clone(key)); err != nil {
				return self, fmt.Errorf("cluster: install gossip key: %w", err)
			}
			c.log.Info("gossip key installed", "fingerprint", fp)
		}
	case "use":
		k := installed(kr, key)
		if k == nil {
			return self, ErrGossipKeyNotInstalled
		}
		if subtle.ConstantTimeCompare(kr.GetPrimaryKey(), k) != 1 {
			// The keyring's own copy becomes primary, never the caller's
			// buffer, which the caller may wipe.
			if err := kr.UseKey(k); err != nil {
				return self, fmt.Errorf("cluster: use gossip key: %w", err)
			}
			c.log.Info("gossip key in use", "fingerprint", fp)
		}
	case "remove":
		if subtle.ConstantTimeCompare(kr.GetPrimaryKey(), key) == 1 {
			return self, ErrGossipKeyInUse
		}
		if installed(kr, key) != nil {
			if err := remove(kr, key); err != nil {
				return self, err
			}
			c.log.Info("gossip key removed", "fingerprint", fp)
		}
	default:
		return self, fmt.Errorf("cluster: unknown keyring operation %q", op)
	}
	self.Keys = listKeys(kr)
	return self, nil
}

// installed returns the keyring's own copy of key, or nil.
func installed(kr *memberlist.Keyring, key []byte) []byte {
	for _, k := range kr.GetKeys() {
		if subtle.ConstantTimeCompare(k, key) == 1 {
			return k
		}
	}
	return nil
}

// remove takes key off the ring. memberlist's RemoveKey shifts the later
// keys down inside the slice that GetKeys hands to packet decryption
// running concurrently, which is a data race unless the key is the last
// one. So the keys after it come off first (last first, which writes
// nothing in place) and go back on afterwards, in order: for those few
// microseconds a packet sealed with one of them fails to open and is
// dropped, which gossip tolerates (it is UDP, and retried).
//
// The removed key's bytes are not zeroed: a decryption that read the ring
// just before may still be using them.
func remove(kr *memberlist.Keyring, key []byte) error {
	keys := kr.GetKeys()
	i := -1
	for j, k := range keys {
		if subtle.ConstantTimeCompare(k, key) == 1 {
			i = j
		}
	}
	if i <= 0 { // absent, or the primary (checked by the caller)
		return nil
	}
	after := append([][]byte(nil), keys[i+1:]...)
	for j := len(after) - 1; j >= 0; j-- {
		if err := kr.RemoveKey(after[j]); err != nil {
			return fmt.Errorf("cluster: remove gossip key: %w", err)
		}
	}
	if err := kr.RemoveKey(key); err != nil {
		return fmt.Errorf("cluster: remove gossip key: %w", err)
	}
	for _, k := range after {
		if err := kr.AddKey(k); err != nil {
			return fmt.Errorf("cluster: restore gossip key: %w", err)
		}
	}
	return nil
}

func listKeys(kr *memberlist.Keyring) []GossipKey {
	keys := kr.GetKeys()
	out := make([]GossipKey, len(keys))
	for i, k := range keys {
		out[i] = GossipKey{Fingerprint: GossipKeyFingerprint(k), Primary: i == 0}
	}
	return out
}
