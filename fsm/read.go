package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sort"
)

// Key returns the key with the given ID. The record is immutable.
func (f *FSM) Key(id string) (*Key, bool) {
	v, ok := f.index.Load().Load(id)
	if !ok {
		return nil, false
	}
	return v.(*Key), true
}

// Alias returns the alias with the given full name ("alias/…").
func (f *FSM) Alias(name string) (*Alias, bool) {
	f.mu.RLock()
	a, ok := f.st.aliases[name]
	f.mu.RUnlock()
	return a, ok
}

// Seal returns the region's sealed key hierarchy, or nil before InitSeal.
func (f *FSM) Seal() *Seal {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.seal
}

// ListKeys returns up to limit keys in key ID order, starting after the ID
// `after` ("" for the start), and whether more follow.
func (f *FSM) ListKeys(after string, limit int) ([]*Key, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ids := f.st.keyIDs
	i := startAfter(ids, after)
	var out []*Key
	for ; i < len(ids) && len(out) < limit; i++ {
		out = append(out, f.st.keys[ids[i]])
	}
	return out, i < len(ids)
}

// ListAliases returns up to limit aliases in name order after `after`,
// restricted to those of keyID when keyID is not empty, and whether more follow.
func (f *FSM) ListAliases(keyID, after string, limit int) ([]*Alias, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	names := f.st.aliasNames
	i := startAfter(names, after)
	var out []*Alias
	for ; i < len(names); i++ {
		a := f.st.aliases[names[i]]
		if keyID != "" && a.KeyID != keyID {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, a)
	}
	return out, false
}

// AliasesOf returns the names of the aliases pointing at keyID, sorted.
func (f *FSM) AliasesOf(keyID string) []string {
	as, _ := f.ListAliases(keyID, "", int(^uint(0)>>1))
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

// KeyCount returns the number of keys.
func (f *FSM) KeyCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.st.keys)
}

// DueWork lists, for the leader's scheduler, keys whose deletion date or
// automatic rotation time is at or before now (Unix ms), in key ID order.
//
// It scans the keys only when the earliest due time it last saw (lowered
// by every write since) has come: at 100 k keys a scan takes ~20 ms.
func (f *FSM) DueWork(now int64) (deletions, rotations []string) {
	if now < f.dueHint.Load() {
		return nil, nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	next := int64(math.MaxInt64)
	for _, id := range f.st.keyIDs {
		k := f.st.keys[id]
		due := k.dueAt()
		next = min(next, due)
		if due > now {
			continue
		}
		if k.State == StatePendingDeletion {
			deletions = append(deletions, id)
		} else {
			rotations = append(rotations, id)
		}
	}
	// Set under the read lock: Apply, which lowers the hint, needs the
	// write lock, so it cannot run between the scan and this store.
	f.dueHint.Store(next)
	return deletions, rotations
}

// dueAt is when k next has scheduled work: its deletion date when pending
// deletion, its next automatic rotation when enabled with rotation on,
// else never (MaxInt64).
func (k *Key) dueAt() int64 {
	switch {
	case k.State == StatePendingDeletion:
		return k.DeletionDate
	case k.State == StateEnabled && k.Rotation.Enabled:
		return k.Rotation.NextAt
	}
	return math.MaxInt64
}

// startAfter is the index of the first element of the sorted slice s that
// comes after `after` ("" for the start), where a page resumes.
func startAfter(s []string, after string) int {
	if after == "" {
		return 0
	}
	i := sort.SearchStrings(s, after)
	if i < len(s) && s[i] == after {
		i++
	}
	return i
}

// Digest is a SHA-256 over the state's snapshot encoding: two nodes that
// applied the same log have the same digest (tests, kmsctl).
func (f *FSM) Digest() string {
	f.mu.RLock()
	st := f.st.copy()
	f.mu.RUnlock()
	h := sha256.New()
	if err := st.write(h); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}
