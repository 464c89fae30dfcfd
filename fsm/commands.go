package fsm

import (
	"encoding/json"
	"fmt"
)

// CommandType identifies a command in the Raft log. The list is append-only:
// never renumber or reuse a value. A type with [IgnorableFlag] set may be
// skipped by a node that does not know it; any other unknown type stops the
// node (it must not silently diverge from its peers).
type CommandType uint8

// IgnorableFlag marks command types that older nodes may skip.
const IgnorableFlag CommandType = 0x80

// Command types. Each comment names the release that introduced it.
const (
	CmdInitSeal          CommandType = 1  // v0.1
	CmdCreateKey         CommandType = 2  // v0.1
	CmdUpdateDescription CommandType = 3  // v0.1
	CmdEnableKey         CommandType = 4  // v0.1
	CmdDisableKey        CommandType = 5  // v0.1
	CmdScheduleDeletion  CommandType = 6  // v0.1
	CmdCancelDeletion    CommandType = 7  // v0.1
	CmdDeleteKey         CommandType = 8  // v0.1
	CmdCreateAlias       CommandType = 9  // v0.1
	CmdUpdateAlias       CommandType = 10 // v0.1
	CmdDeleteAlias       CommandType = 11 // v0.1
	CmdTagResource       CommandType = 12 // v0.1
	CmdUntagResource     CommandType = 13 // v0.1
	CmdPutKeyPolicy      CommandType = 14 // v0.1
	CmdSetRotation       CommandType = 15 // v0.1
	CmdRotateKey         CommandType = 16 // v0.1
	// Identities (identity.go).
	CmdCreateIdentity       CommandType = 17 // v0.2
	CmdDeleteIdentity       CommandType = 18 // v0.2
	CmdCreateAccessKey      CommandType = 19 // v0.2
	CmdDeleteAccessKey      CommandType = 20 // v0.2
	CmdPutIdentityPolicy    CommandType = 21 // v0.2
	CmdDeleteIdentityPolicy CommandType = 22 // v0.2
	// Grants (grant.go).
	CmdCreateGrant CommandType = 23 // v0.2
	CmdRemoveGrant CommandType = 24 // v0.2
	// Seal changes (seal_cmds.go).
	CmdAddTerm CommandType = 25 // v0.2
	CmdRekey   CommandType = 26 // v0.2
	// The region's command level (level.go); encoded with IgnorableFlag.
	CmdSetLevel CommandType = 27 // v0.2
)

// Req is carried by every command: the request ID that makes it idempotent
// and the proposer's clock reading (Unix ms), the only time Apply may use.
type Req struct {
	ID string `json:"rid"`
	At int64  `json:"at"`
}

func (r *Req) req() *Req { return r }

// Command is implemented by every command body.
type Command interface {
	Type() CommandType
	req() *Req
}

// InitSeal stores the region's sealed key hierarchy. It is the first command
// of a region and can succeed only once.
type InitSeal struct {
	Req
	Seal Seal `json:"seal"`
}

// CreateKey adds a key; the record (ID, sealed material, times) is complete.
type CreateKey struct {
	Req
	Key Key `json:"key"`
}

// UpdateDescription replaces a key's description.
type UpdateDescription struct {
	Req
	KeyID       string `json:"key_id"`
	Description string `json:"description"`
}

// EnableKey moves a Disabled key to Enabled.
type EnableKey struct {
	Req
	KeyID string `json:"key_id"`
}

// DisableKey moves an Enabled key to Disabled.
type DisableKey struct {
	Req
	KeyID string `json:"key_id"`
}

// ScheduleDeletion moves a key to PendingDeletion until DeletionDate.
type ScheduleDeletion struct {
	Req
	KeyID        string `json:"key_id"`
	WindowDays   int32  `json:"window_days"`
	DeletionDate int64  `json:"deletion_date"`
}

// CancelDeletion moves a PendingDeletion key to Disabled, as AWS does.
type CancelDeletion struct {
	Req
	KeyID string `json:"key_id"`
}

// DeleteKey removes a key whose deletion date has passed (by Req.At), with its
// material and aliases. Proposed by the leader's scheduler.
type DeleteKey struct {
	Req
	KeyID string `json:"key_id"`
}

// CreateAlias points a new alias at a key.
type CreateAlias struct {
	Req
	Name  string `json:"name"`
	KeyID string `json:"key_id"`
}

// UpdateAlias points an existing alias at another key.
type UpdateAlias struct {
	Req
	Name  string `json:"name"`
	KeyID string `json:"key_id"`
}

// DeleteAlias removes an alias.
type DeleteAlias struct {
	Req
	Name string `json:"name"`
}

// TagResource adds or replaces tags of a key.
type TagResource struct {
	Req
	KeyID string `json:"key_id"`
	Tags  []Tag  `json:"tags"`
}

// UntagResource removes tags of a key by tag key.
type UntagResource struct {
	Req
	KeyID string   `json:"key_id"`
	Keys  []string `json:"keys"`
}

// PutKeyPolicy replaces a key's policy (already validated by the proposer).
type PutKeyPolicy struct {
	Req
	KeyID  string `json:"key_id"`
	Policy string `json:"policy"`
}

// SetRotation turns automatic rotation on (with a period and the next due
// time) or off.
type SetRotation struct {
	Req
	KeyID      string `json:"key_id"`
	Enabled    bool   `json:"enabled"`
	PeriodDays int32  `json:"period_days,omitempty"`
	NextAt     int64  `json:"next_at,omitempty"`
}

// RotateKey adds a new material version to a key. Material.Version must be
// the current version + 1, so two concurrent rotations cannot both apply.
// For automatic rotations NextAt is the following due time.
type RotateKey struct {
	Req
	KeyID    string   `json:"key_id"`
	Material Material `json:"material"`
	NextAt   int64    `json:"next_at,omitempty"`
}

// Type implements Command.
func (*InitSeal) Type() CommandType { return CmdInitSeal }

// Type implements Command.
func (*CreateKey) Type() CommandType { return CmdCreateKey }

// Type implements Command.
func (*UpdateDescription) Type() CommandType { return CmdUpdateDescription }

// Type implements Command.
func (*EnableKey) Type() CommandType { return CmdEnableKey }

// Type implements Command.
func (*DisableKey) Type() CommandType { return CmdDisableKey }

// Type implements Command.
func (*ScheduleDeletion) Type() CommandType { return CmdScheduleDeletion }

// Type implements Command.
func (*CancelDeletion) Type() CommandType { return CmdCancelDeletion }

// Type implements Command.
func (*DeleteKey) Type() CommandType { return CmdDeleteKey }

// Type implements Command.
func (*CreateAlias) Type() CommandType { return CmdCreateAlias }

// Type implements Command.
func (*UpdateAlias) Type() CommandType { return CmdUpdateAlias }

// Type implements Command.
func (*DeleteAlias) Type() CommandType { return CmdDeleteAlias }

// Type implements Command.
func (*TagResource) Type() CommandType { return CmdTagResource }

// Type implements Command.
func (*UntagResource) Type() CommandType { return CmdUntagResource }

// Type implements Command.
func (*PutKeyPolicy) Type() CommandType { return CmdPutKeyPolicy }

// Type implements Command.
func (*SetRotation) Type() CommandType { return CmdSetRotation }

// Type implements Command.
func (*RotateKey) Type() CommandType { return CmdRotateKey }

// newCommand returns an empty body for a type, or nil if the type is unknown.
func newCommand(t CommandType) Command {
	if r, ok := table[t&^IgnorableFlag]; ok {
		return r.new()
	}
	return nil
}

// Encode serialises a command for the Raft log: one type byte, then JSON.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %T: %w", c, err)
	}
	out := make([]byte, 0, len(body)+1)
	t := c.Type()
	if ignorableTypes[t] {
		t |= IgnorableFlag
	}
	out = append(out, byte(t))
	return append(out, body...), nil
}

// Decode parses a log entry. An unknown type returns ErrBadCommand with
// ignorable reporting whether the type carries [IgnorableFlag].
func Decode(b []byte) (c Command, ignorable bool, err error) {
	if len(b) < 1 {
		return nil, false, fmt.Errorf("%w: empty entry", ErrBadCommand)
	}
	t := CommandType(b[0])
	c = newCommand(t)
	if c == nil {
		return nil, t&IgnorableFlag != 0, fmt.Errorf("%w: unknown type %d", ErrBadCommand, t)
	}
	if err := json.Unmarshal(b[1:], c); err != nil {
		return nil, false, fmt.Errorf("%w: type %d: %v", ErrBadCommand, t, err)
	}
	return c, false, nil
}
