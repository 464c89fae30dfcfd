package fsm

import (
	"crypto/sha256"
	"encoding/hex"
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
func (f *FSM) DueWork(now int64) (deletions, rotations []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, id := range f.st.keyIDs {
		k := f.st.keys[id]
		switch {
		case k.State == StatePendingDeletion && k.DeletionDate <= now:
			deletions = append(deletions, id)
		case k.State == StateEnabled && k.Rotation.Enabled && k.Rotation.NextAt <= now:
			rotations = append(rotations, id)
		}
	}
	return deletions, rotations
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
