package fsm

import (
	"bytes"
	"fmt"
	"maps"
)

// Changes of the region's seal after InitSeal (design-notes §5.2): a new
// keyring term (operator rotate) and a new wrapped root key for one unseal
// provider (operator rekey). Both carry only sealed bytes; the proposer,
// an unsealed node, did the cryptography.

// ShamirParams is the share set of the "shamir" unseal provider: how many
// shares exist and how many rebuild the unseal key. The shares themselves
// are never stored.
type ShamirParams struct {
	Shares    int `json:"shares"`
	Threshold int `json:"threshold"`
}

// Valid reports whether p is a usable share set: 2 <= Threshold <= Shares
// <= 255.
func (p *ShamirParams) Valid() bool {
	return p != nil && p.Threshold >= 2 && p.Shares >= p.Threshold && p.Shares <= 255
}

// AddTerm appends keyring term Term.Number, which must be the last term's
// number + 1, sealed under the root key whose check value is RootCheck (so a
// term sealed under another root never enters the keyring). New seals use
// it on every node once applied; older terms stay for opening older blobs.
type AddTerm struct {
	Req
	Term      Term   `json:"term"`
	RootCheck []byte `json:"root_check"`
}

// Rekey replaces (or adds) the wrapped root key of one unseal provider: the
// same root key and terms, opened by a new unseal key. The old unseal key of
// that provider no longer opens the region. RootCheck must be the seal's;
// Shamir is the new share set when Provider is "shamir". Previous is the
// wrapped root key being replaced (empty when the provider had none), so of
// two rekeys started from the same seal only the first applies: the second
// would void the unseal key the first just handed out.
type Rekey struct {
	Req
	Provider    string        `json:"provider"`
	WrappedRoot []byte        `json:"wrapped_root"`
	RootCheck   []byte        `json:"root_check"`
	Shamir      *ShamirParams `json:"shamir,omitempty"`
	Previous    []byte        `json:"previous,omitempty"`
}

// ShamirProvider is the provider name whose share set Seal.Shamir records.
const ShamirProvider = "shamir"

// Type implements Command.
func (*AddTerm) Type() CommandType { return CmdAddTerm }

// Type implements Command.
func (*Rekey) Type() CommandType { return CmdRekey }

func init() {
	table[CmdAddTerm] = stateRule(func() *AddTerm { return &AddTerm{} }, (*state).addTerm)
	table[CmdRekey] = stateRule(func() *Rekey { return &Rekey{} }, (*state).rekey)
}

// sealFor checks that the region has a seal whose root check is check.
// A mismatch is a conflict: the proposer worked from another root key.
func (st *state) sealFor(check []byte) (*Seal, error) {
	if st.seal == nil {
		return nil, rejectf(ErrConflict, "seal", "")
	}
	if !bytes.Equal(st.seal.RootCheck, check) {
		return nil, rejectf(ErrConflict, "seal", "")
	}
	return st.seal, nil
}

// The seal is shared with readers (FSM.Seal) and snapshots, so a change
// installs a new Seal and never edits the old one.

func (st *state) addTerm(c *AddTerm) error {
	if c.Term.Number == 0 || len(c.Term.Sealed) == 0 {
		return fmt.Errorf("%w: keyring term without number or key", ErrBadCommand)
	}
	old, err := st.sealFor(c.RootCheck)
	if err != nil {
		return err
	}
	if last := old.Terms[len(old.Terms)-1].Number; c.Term.Number != last+1 {
		return rejectf(ErrConflict, "seal", "")
	}
	s := *old
	s.Terms = append(make([]Term, 0, len(old.Terms)+1), old.Terms...)
	s.Terms = append(s.Terms, Term{Number: c.Term.Number, Sealed: c.Term.Sealed})
	st.seal = &s
	return nil
}

func (st *state) rekey(c *Rekey) error {
	if c.Provider == "" || len(c.WrappedRoot) == 0 {
		return fmt.Errorf("%w: rekey without provider or wrapped root key", ErrBadCommand)
	}
	if (c.Provider == ShamirProvider) != (c.Shamir != nil) || (c.Shamir != nil && !c.Shamir.Valid()) {
		return fmt.Errorf("%w: rekey of %q with share set %+v", ErrBadCommand, c.Provider, c.Shamir)
	}
	old, err := st.sealFor(c.RootCheck)
	if err != nil {
		return err
	}
	if !bytes.Equal(old.WrappedRoot[c.Provider], c.Previous) {
		return rejectf(ErrConflict, "seal", "")
	}
	s := *old
	s.WrappedRoot = maps.Clone(old.WrappedRoot)
	s.WrappedRoot[c.Provider] = c.WrappedRoot
	if c.Shamir != nil {
		p := *c.Shamir
		s.Shamir = &p
	}
	st.seal = &s
	return nil
}
