package fsm

import (
	"fmt"
	"sort"
)

// apply changes st by one decoded command through its row of the Apply
// table (table.go). It returns the ID of a key it deleted (for the KeyDeleted
// hook) and a rejection, if any. A rejected command changes nothing.
func (st *state) apply(c Command) (deleted string, err error) {
	r, ok := table[c.Type()&^IgnorableFlag]
	if !ok {
		return "", fmt.Errorf("%w: no apply rule for %T", ErrBadCommand, c)
	}
	return r.apply(st, c)
}

// editKey runs edit on a private copy of one existing key and installs the
// copy only if edit succeeds, so readers holding the old record never see a
// change and a rejection leaves nothing behind.
func (st *state) editKey(keyID string, edit func(k *Key) error) error {
	k, ok := st.keys[keyID]
	if !ok {
		return rejectf(ErrKeyNotFound, keyID, "")
	}
	nk := k.clone()
	if err := edit(nk); err != nil {
		return err
	}
	st.putKey(nk)
	return nil
}

func updateDescription(k *Key, c *UpdateDescription) error {
	if err := notPendingDeletion(k); err != nil {
		return err
	}
	k.Description = c.Description
	return nil
}

func enableKey(k *Key, _ *EnableKey) error {
	if err := notPendingDeletion(k); err != nil {
		return err
	}
	k.State = StateEnabled
	return nil
}

func disableKey(k *Key, _ *DisableKey) error {
	if err := notPendingDeletion(k); err != nil {
		return err
	}
	k.State = StateDisabled
	return nil
}

func scheduleDeletion(k *Key, c *ScheduleDeletion) error {
	if err := notPendingDeletion(k); err != nil {
		return err
	}
	k.State, k.DeletionDate, k.PendingWindowDays = StatePendingDeletion, c.DeletionDate, c.WindowDays
	return nil
}

func cancelDeletion(k *Key, _ *CancelDeletion) error {
	if k.State != StatePendingDeletion {
		return rejectf(ErrInvalidState, k.ID, k.State)
	}
	k.State, k.DeletionDate, k.PendingWindowDays = StateDisabled, 0, 0
	return nil
}

func putKeyPolicy(k *Key, c *PutKeyPolicy) error {
	k.Policy = intern(c.Policy)
	return nil
}

func notPendingDeletion(k *Key) error {
	if k.State == StatePendingDeletion {
		return rejectf(ErrInvalidState, k.ID, k.State)
	}
	return nil
}

// usable reports whether a key may change its material or rotation setting:
// Enabled only, with AWS's distinction between Disabled and other states.
func usable(k *Key) error {
	switch k.State {
	case StateEnabled:
		return nil
	case StateDisabled:
		return rejectf(ErrDisabled, k.ID, k.State)
	}
	return rejectf(ErrInvalidState, k.ID, k.State)
}

func (st *state) initSeal(c *InitSeal) error {
	if st.seal != nil {
		return rejectf(ErrSealExists, "seal", "")
	}
	if len(c.Seal.Terms) == 0 || len(c.Seal.WrappedRoot) == 0 {
		return fmt.Errorf("%w: seal without root or terms", ErrBadCommand)
	}
	s := c.Seal
	st.seal = &s
	return nil
}

func (st *state) createKey(c *CreateKey) error {
	k := c.Key
	if k.ID == "" || len(k.Materials) == 0 {
		return fmt.Errorf("%w: key without ID or material", ErrBadCommand)
	}
	if _, ok := st.keys[k.ID]; ok {
		return rejectf(ErrConflict, k.ID, "")
	}
	k.Tags = append([]Tag(nil), k.Tags...)
	sort.SliceStable(k.Tags, func(i, j int) bool { return k.Tags[i].Key < k.Tags[j].Key })
	for i := 1; i < len(k.Tags); i++ {
		if k.Tags[i].Key == k.Tags[i-1].Key {
			return fmt.Errorf("%w: duplicate tag key %q", ErrBadCommand, k.Tags[i].Key)
		}
	}
	if len(k.Tags) > MaxTagsPerKey {
		return rejectf(ErrLimitExceeded, k.ID, "")
	}
	k.intern()
	st.putKey(&k)
	st.keyIDs = insertSorted(st.keyIDs, k.ID)
	return nil
}

func (st *state) deleteKey(c *DeleteKey) (string, error) {
	k, ok := st.keys[c.KeyID]
	if !ok {
		return "", rejectf(ErrKeyNotFound, c.KeyID, "")
	}
	if k.State != StatePendingDeletion || k.DeletionDate > c.At {
		return "", rejectf(ErrInvalidState, k.ID, k.State)
	}
	st.dropKey(k.ID)
	st.keyIDs = removeSorted(st.keyIDs, k.ID)
	kept := st.aliasNames[:0:0]
	for _, n := range st.aliasNames {
		if st.aliases[n].KeyID == k.ID {
			delete(st.aliases, n)
			continue
		}
		kept = append(kept, n)
	}
	st.aliasNames = kept
	return k.ID, nil
}

func tagKey(k *Key, c *TagResource) error {
	tags := c.Tags
	if err := notPendingDeletion(k); err != nil {
		return err
	}
	merged := append([]Tag(nil), k.Tags...)
	for _, t := range tags {
		i := sort.Search(len(merged), func(i int) bool { return merged[i].Key >= t.Key })
		if i < len(merged) && merged[i].Key == t.Key {
			merged[i].Value = t.Value
			continue
		}
		merged = append(merged, Tag{})
		copy(merged[i+1:], merged[i:])
		merged[i] = t
	}
	if len(merged) > MaxTagsPerKey {
		return rejectf(ErrLimitExceeded, k.ID, "")
	}
	k.Tags = merged
	return nil
}

func untagKey(k *Key, c *UntagResource) error {
	keys := c.Keys
	if err := notPendingDeletion(k); err != nil {
		return err
	}
	drop := make(map[string]bool, len(keys))
	for _, tk := range keys {
		drop[tk] = true
	}
	var kept []Tag
	for _, t := range k.Tags {
		if !drop[t.Key] {
			kept = append(kept, t)
		}
	}
	k.Tags = kept
	return nil
}

func setRotation(k *Key, c *SetRotation) error {
	if err := usable(k); err != nil {
		return err
	}
	k.Rotation.Enabled = c.Enabled
	if c.Enabled {
		k.Rotation.PeriodDays, k.Rotation.NextAt = c.PeriodDays, c.NextAt
	} else {
		k.Rotation.NextAt = 0
	}
	return nil
}

// onDemandGuardMillis: AWS refuses an on-demand rotation while an automatic
// one is due within 20 minutes (ConflictException).
const onDemandGuardMillis = 20 * 60 * 1000

func rotateKey(k *Key, c *RotateKey) error {
	if err := usable(k); err != nil {
		return err
	}
	m := c.Material
	if m.Version != k.Current().Version+1 || len(m.Sealed) == 0 {
		return rejectf(ErrConflict, k.ID, "")
	}
	switch m.RotationType {
	case RotationOnDemand:
		if k.Rotation.OnDemandCount >= MaxOnDemandRotations {
			return rejectf(ErrLimitExceeded, k.ID, "")
		}
		if k.Rotation.Enabled && k.Rotation.NextAt-c.At < onDemandGuardMillis {
			return rejectf(ErrConflict, k.ID, "")
		}
		k.Rotation.OnDemandCount++
		k.Rotation.OnDemandAt = c.At
	case RotationAutomatic:
		if !k.Rotation.Enabled || k.Rotation.NextAt > c.At {
			return rejectf(ErrConflict, k.ID, "")
		}
		k.Rotation.NextAt = c.NextAt
	default:
		return fmt.Errorf("%w: rotation type %q", ErrBadCommand, m.RotationType)
	}
	m.RotationType = intern(m.RotationType)
	k.Materials = append(append([]Material(nil), k.Materials...), m)
	return nil
}
