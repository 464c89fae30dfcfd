package fsm

// The Apply table: one row per command type, naming how to decode it and
// how to apply it. Adding a command means adding a constant in commands.go,
// its body type, and a row here (a test checks that every constant has one).
var table = map[CommandType]rule{
	CmdInitSeal:          stateRule(func() *InitSeal { return &InitSeal{} }, (*state).initSeal),
	CmdCreateKey:         stateRule(func() *CreateKey { return &CreateKey{} }, (*state).createKey),
	CmdUpdateDescription: keyRule(func() *UpdateDescription { return &UpdateDescription{} }, updateDescription),
	CmdEnableKey:         keyRule(func() *EnableKey { return &EnableKey{} }, enableKey),
	CmdDisableKey:        keyRule(func() *DisableKey { return &DisableKey{} }, disableKey),
	CmdScheduleDeletion:  keyRule(func() *ScheduleDeletion { return &ScheduleDeletion{} }, scheduleDeletion),
	CmdCancelDeletion:    keyRule(func() *CancelDeletion { return &CancelDeletion{} }, cancelDeletion),
	CmdDeleteKey:         {new: func() Command { return &DeleteKey{} }, apply: applyDeleteKey},
	CmdCreateAlias:       stateRule(func() *CreateAlias { return &CreateAlias{} }, (*state).createAlias),
	CmdUpdateAlias:       stateRule(func() *UpdateAlias { return &UpdateAlias{} }, (*state).updateAlias),
	CmdDeleteAlias:       stateRule(func() *DeleteAlias { return &DeleteAlias{} }, (*state).deleteAlias),
	CmdTagResource:       keyRule(func() *TagResource { return &TagResource{} }, tagKey),
	CmdUntagResource:     keyRule(func() *UntagResource { return &UntagResource{} }, untagKey),
	CmdPutKeyPolicy:      keyRule(func() *PutKeyPolicy { return &PutKeyPolicy{} }, putKeyPolicy),
	CmdSetRotation:       keyRule(func() *SetRotation { return &SetRotation{} }, setRotation),
	CmdRotateKey:         keyRule(func() *RotateKey { return &RotateKey{} }, rotateKey),
}

// rule is one row of the table.
type rule struct {
	new   func() Command
	apply func(st *state, c Command) (deleted string, err error)
}

// keyCommand is a command that edits one existing key.
type keyCommand interface {
	Command
	keyID() string
}

func (c *UpdateDescription) keyID() string { return c.KeyID }
func (c *EnableKey) keyID() string         { return c.KeyID }
func (c *DisableKey) keyID() string        { return c.KeyID }
func (c *ScheduleDeletion) keyID() string  { return c.KeyID }
func (c *CancelDeletion) keyID() string    { return c.KeyID }
func (c *TagResource) keyID() string       { return c.KeyID }
func (c *UntagResource) keyID() string     { return c.KeyID }
func (c *PutKeyPolicy) keyID() string      { return c.KeyID }
func (c *SetRotation) keyID() string       { return c.KeyID }
func (c *RotateKey) keyID() string         { return c.KeyID }

// stateRule is a row for a command that changes the state as a whole.
func stateRule[C Command](newC func() C, fn func(st *state, c C) error) rule {
	return rule{
		new:   func() Command { return newC() },
		apply: func(st *state, c Command) (string, error) { return "", fn(st, c.(C)) },
	}
}

// keyRule is a row for a command that edits one existing key: the edit runs
// on a private copy, installed only if it succeeds.
func keyRule[C keyCommand](newC func() C, edit func(k *Key, c C) error) rule {
	return rule{
		new: func() Command { return newC() },
		apply: func(st *state, c Command) (string, error) {
			kc := c.(C)
			return "", st.editKey(kc.keyID(), func(k *Key) error { return edit(k, kc) })
		},
	}
}

func applyDeleteKey(st *state, c Command) (string, error) { return st.deleteKey(c.(*DeleteKey)) }
