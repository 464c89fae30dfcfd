package fsm

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Grants: delegated, revocable permissions on one key (AWS KMS grants).
// They live in the key record (Key.Grants, sorted by ID), so they are
// deleted with the key, snapshotted with it, and the authorization path
// reads them from the *Key it already holds, without another lookup.

// MaxGrantsPerKey is kmsnode's per-key grant quota. AWS allows 50 000; here
// a key's grants live in its record, and every CreateGrant or RemoveGrant
// copies the slice (a key record is immutable once published), so the
// quota bounds that copy (~1.3 MB at the limit) and the linear scan a
// grant-based authorization makes. 10 000 grants per key is far beyond
// what a service creates for one key in practice.
const MaxGrantsPerKey = 10_000

// Reasons a grant is removed, carried for the audit trail; Apply treats
// both the same.
const (
	GrantRetired = "retire"
	GrantRevoked = "revoke"
)

// ErrGrantNotFound is the rejection of RemoveGrant for a grant the key does
// not have (never had, or already retired or revoked).
var ErrGrantNotFound = errors.New("fsm: grant not found")

// Grant is one grant on a key. Times are Unix milliseconds chosen by the
// proposer. A Grant reached through a *Key from the FSM is immutable.
type Grant struct {
	ID                string            `json:"id"` // 64 lowercase hex digits
	Name              string            `json:"name,omitempty"`
	GranteePrincipal  string            `json:"grantee"`
	RetiringPrincipal string            `json:"retiring,omitempty"`
	Operations        []string          `json:"operations"` // no duplicates
	Constraints       *GrantConstraints `json:"constraints,omitzero"`
	IssuingAccount    string            `json:"issuing_account"` // arn:<p>:iam::<account>:root
	CreatedAt         int64             `json:"created_at"`
}

// GrantConstraints are a grant's encryption context constraints. A nil map
// is no constraint; when both are set, both must hold.
type GrantConstraints struct {
	EncryptionContextEquals map[string]string `json:"ec_equals,omitzero"`
	EncryptionContextSubset map[string]string `json:"ec_subset,omitzero"`
}

// CreateGrant adds a grant to a key. With a Name, a grant of the same name
// and the same parameters already on the key makes the command a no-op
// (AWS's idempotent CreateGrant by name); the proposer then answers with
// that grant's ID. Same name, different parameters: a new grant, as in AWS.
type CreateGrant struct {
	Req
	KeyID string `json:"key_id"`
	Grant Grant  `json:"grant"`
}

// RemoveGrant deletes a grant from a key: RetireGrant or RevokeGrant.
type RemoveGrant struct {
	Req
	KeyID   string `json:"key_id"`
	GrantID string `json:"grant_id"`
	Reason  string `json:"reason"` // GrantRetired or GrantRevoked
}

// Type implements Command.
func (*CreateGrant) Type() CommandType { return CmdCreateGrant }

// Type implements Command.
func (*RemoveGrant) Type() CommandType { return CmdRemoveGrant }

func (c *RemoveGrant) keyID() string { return c.KeyID }

func init() {
	table[CmdCreateGrant] = rule{new: func() Command { return &CreateGrant{} }, apply: applyCreateGrant}
	table[CmdRemoveGrant] = keyRule(func() *RemoveGrant { return &RemoveGrant{} }, removeGrant)
	errorCodes = append(errorCodes, struct {
		code string
		err  error
	}{"GrantNotFound", ErrGrantNotFound})
}

// applyCreateGrant is not a keyRule: a repeated named grant must leave the
// key record untouched (no copy installed), so it inspects the key first.
func applyCreateGrant(st *state, c Command) (string, error) {
	cg := c.(*CreateGrant)
	k, ok := st.keys[cg.KeyID]
	if !ok {
		return "", rejectf(ErrKeyNotFound, cg.KeyID, "")
	}
	if err := notPendingDeletion(k); err != nil {
		return "", err
	}
	g := cg.Grant
	if err := g.check(); err != nil {
		return "", err
	}
	i, found := k.grantIndex(g.ID)
	if found {
		// The same proposal applied again (a retry whose request ID has
		// expired): the same grant is success, anything else a conflict.
		if k.Grants[i].SameAs(&g) && k.Grants[i].Name == g.Name {
			return "", nil
		}
		return "", rejectf(ErrConflict, k.ID, "")
	}
	if g.Name != "" {
		for j := range k.Grants {
			if k.Grants[j].Name == g.Name && k.Grants[j].SameAs(&g) {
				return "", nil
			}
		}
	}
	if len(k.Grants) >= MaxGrantsPerKey {
		return "", rejectf(ErrLimitExceeded, k.ID, "")
	}
	g.Operations = slices.Clone(g.Operations)
	g.Constraints = g.Constraints.Normalized()
	grants := make([]Grant, 0, len(k.Grants)+1)
	grants = append(append(append(grants, k.Grants[:i]...), g), k.Grants[i:]...)
	nk := k.clone()
	nk.Grants = grants
	st.putKey(nk)
	return "", nil
}

func removeGrant(k *Key, c *RemoveGrant) error {
	i, found := k.grantIndex(c.GrantID)
	if !found {
		return rejectf(ErrGrantNotFound, c.GrantID, "")
	}
	grants := make([]Grant, 0, len(k.Grants)-1)
	k.Grants = append(append(grants, k.Grants[:i]...), k.Grants[i+1:]...)
	if len(k.Grants) == 0 {
		k.Grants = nil // omitted from the encoding, as for a key that never had one
	}
	return nil
}

// check rejects a grant no proposer builds: the API layer validates the
// request, so this guards the log against malformed commands only.
func (g *Grant) check() error {
	if g.ID == "" || g.GranteePrincipal == "" || len(g.Operations) == 0 {
		return fmt.Errorf("%w: grant without ID, grantee or operations", ErrBadCommand)
	}
	for i, op := range g.Operations {
		if op == "" || slices.Contains(g.Operations[:i], op) {
			return fmt.Errorf("%w: grant operation %q empty or repeated", ErrBadCommand, op)
		}
	}
	return nil
}

// SameAs reports whether g and o grant the same thing: grantee, retiring
// principal, operations (in any order) and constraints. Name, ID and times
// are not parameters.
func (g *Grant) SameAs(o *Grant) bool {
	if g.GranteePrincipal != o.GranteePrincipal || g.RetiringPrincipal != o.RetiringPrincipal ||
		len(g.Operations) != len(o.Operations) {
		return false
	}
	for _, op := range o.Operations {
		if !slices.Contains(g.Operations, op) {
			return false
		}
	}
	a, b := g.Constraints.Normalized(), o.Constraints.Normalized()
	if a == nil || b == nil {
		return a == b
	}
	return maps.Equal(a.EncryptionContextEquals, b.EncryptionContextEquals) &&
		maps.Equal(a.EncryptionContextSubset, b.EncryptionContextSubset)
}

// HasOperation reports whether the grant lists op.
func (g *Grant) HasOperation(op string) bool { return slices.Contains(g.Operations, op) }

// Normalized returns c without empty maps, or nil when nothing is left, so
// that "no constraint" has one form in the state.
func (c *GrantConstraints) Normalized() *GrantConstraints {
	if c == nil || len(c.EncryptionContextEquals) == 0 && len(c.EncryptionContextSubset) == 0 {
		return nil
	}
	n := &GrantConstraints{}
	if len(c.EncryptionContextEquals) > 0 {
		n.EncryptionContextEquals = c.EncryptionContextEquals
	}
	if len(c.EncryptionContextSubset) > 0 {
		n.EncryptionContextSubset = c.EncryptionContextSubset
	}
	return n
}

// grantIndex finds a grant by ID in the sorted Grants: its index and
// whether it is there (else the index where it would go).
func (k *Key) grantIndex(id string) (int, bool) {
	i := sort.Search(len(k.Grants), func(i int) bool { return k.Grants[i].ID >= id })
	return i, i < len(k.Grants) && k.Grants[i].ID == id
}

// Grant returns the key's grant with an ID, or nil.
func (k *Key) Grant(id string) *Grant {
	if i, ok := k.grantIndex(id); ok {
		return &k.Grants[i]
	}
	return nil
}

// GrantsAfter returns up to limit of the key's grants in ID order after
// the ID `after` ("" for the start) that pass keep (nil keeps all), and
// whether more follow.
func (k *Key) GrantsAfter(after string, limit int, keep func(*Grant) bool) ([]*Grant, bool) {
	i := 0
	if after != "" {
		i = sort.Search(len(k.Grants), func(i int) bool { return k.Grants[i].ID > after })
	}
	var out []*Grant
	for ; i < len(k.Grants); i++ {
		g := &k.Grants[i]
		if keep != nil && !keep(g) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, g)
	}
	return out, false
}

// KeyGrant is a grant with the key it is on.
type KeyGrant struct {
	KeyID string
	Grant *Grant
}

// RetirableGrants lists, across every key in key ID then grant ID order,
// up to limit grants whose retiring principal is exactly principal,
// starting after (afterKey, afterGrant) (both "" for the start), and
// whether more follow. It scans the keys: ListRetirableGrants is rare and
// an index would cost memory and work on every grant change.
func (f *FSM) RetirableGrants(principal, afterKey, afterGrant string, limit int) ([]KeyGrant, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ids := f.st.keyIDs
	i := sort.SearchStrings(ids, afterKey)
	var out []KeyGrant
	for ; i < len(ids); i++ {
		k := f.st.keys[ids[i]]
		j := 0
		if ids[i] == afterKey && afterGrant != "" {
			j = sort.Search(len(k.Grants), func(j int) bool { return k.Grants[j].ID > afterGrant })
		}
		for ; j < len(k.Grants); j++ {
			if k.Grants[j].RetiringPrincipal != principal {
				continue
			}
			if len(out) == limit {
				return out, true
			}
			out = append(out, KeyGrant{KeyID: k.ID, Grant: &k.Grants[j]})
		}
	}
	return out, false
}
