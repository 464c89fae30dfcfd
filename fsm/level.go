package fsm

import "fmt"

// Command levels make rolling upgrades safe. A release that adds command
// types raises MaxLevel; LevelOf says at which level each type appeared. A
// node that meets a type it does not know stops rather than diverge
// (Decode), so a proposer must not use a type until every node of the region
// can apply it: the region's level, held in the state and raised by the
// leader with SetLevel once every server advertises a MaxLevel at least as
// high (cluster/level.go), gates what may be proposed (cluster.Apply). The
// level only rises: a node of an older release joining later stops at the
// first command it cannot apply, with a message that says so.
//
// Level 1 is v0.1 (types 1–16), plus SetLevel (27), which any release may
// receive. Level 2 is v0.2: identities, grants, keyring terms and rekey
// (17–26).

// MaxLevel is the highest command level this release can apply.
const MaxLevel uint32 = 2

// LevelOf returns the level that introduced a command type.
//
// SetLevel itself is proposable at any level: older nodes skip it (it is
// encoded with IgnorableFlag), and it is what raises the level.
func LevelOf(t CommandType) uint32 {
	switch t &^= IgnorableFlag; {
	case t <= CmdRotateKey, t == CmdSetLevel:
		return 1
	case t <= CmdSetLevel:
		return 2
	}
	return MaxLevel + 1 // unknown here: never proposable
}

// ignorableTypes are encoded with IgnorableFlag: a node of an older release
// skips them. Only SetLevel: skipping it changes nothing an old node reads.
var ignorableTypes = map[CommandType]bool{CmdSetLevel: true}

// SetLevel raises the region's command level.
type SetLevel struct {
	Req
	Level uint32 `json:"level"`
}

// Type implements Command.
func (*SetLevel) Type() CommandType { return CmdSetLevel }

func init() {
	table[CmdSetLevel] = stateRule(func() *SetLevel { return &SetLevel{} }, (*state).setLevel)
}

// setLevel raises the level; a lower or equal level changes nothing (two
// leaders in turn may both propose it). It does not check MaxLevel: the
// proposer checked every server, and Apply must decide the same on every
// node whatever its release.
func (st *state) setLevel(c *SetLevel) error {
	if c.Level == 0 {
		return fmt.Errorf("%w: level 0", ErrBadCommand)
	}
	if c.Level > st.level {
		st.level = c.Level
	}
	return nil
}

// regionLevel is the state's level; a state without one (a v0.1 region)
// is at level 1.
func (st *state) regionLevel() uint32 { return max(st.level, 1) }

// Level returns the region's command level: command types of a higher level
// must not be proposed yet.
func (f *FSM) Level() uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.regionLevel()
}
