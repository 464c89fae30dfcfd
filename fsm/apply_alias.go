package fsm

import "fmt"

// aliasTarget checks that an alias may point at keyID.
func (st *state) aliasTarget(keyID string) error {
	k, ok := st.keys[keyID]
	if !ok {
		return rejectf(ErrKeyNotFound, keyID, "")
	}
	return notPendingDeletion(k)
}

func (st *state) createAlias(c *CreateAlias) error {
	if c.Name == "" {
		return fmt.Errorf("%w: alias without a name", ErrBadCommand)
	}
	if _, ok := st.aliases[c.Name]; ok {
		return rejectf(ErrAliasExists, c.Name, "")
	}
	if err := st.aliasTarget(c.KeyID); err != nil {
		return err
	}
	st.aliases[c.Name] = &Alias{Name: c.Name, KeyID: c.KeyID, CreatedAt: c.At, UpdatedAt: c.At}
	st.aliasNames = insertSorted(st.aliasNames, c.Name)
	return nil
}

func (st *state) updateAlias(c *UpdateAlias) error {
	a, ok := st.aliases[c.Name]
	if !ok {
		return rejectf(ErrAliasNotFound, c.Name, "")
	}
	if err := st.aliasTarget(c.KeyID); err != nil {
		return err
	}
	na := *a
	na.KeyID, na.UpdatedAt = c.KeyID, c.At
	st.aliases[c.Name] = &na
	return nil
}

func (st *state) deleteAlias(c *DeleteAlias) error {
	if _, ok := st.aliases[c.Name]; !ok {
		return rejectf(ErrAliasNotFound, c.Name, "")
	}
	delete(st.aliases, c.Name)
	st.aliasNames = removeSorted(st.aliasNames, c.Name)
	return nil
}
