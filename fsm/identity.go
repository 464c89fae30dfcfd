package fsm

import (
	"fmt"
	"sort"
)

// Identities: the principals whose SigV4 signatures the region accepts,
// their access keys (secrets sealed by the proposer under the region
// keyring, like key material) and their inline identity policies
// (ARCHITECTURE.md decision 9).

// Identity types.
const (
	IdentityRoot = "root" // the account root user: arn:<p>:iam::<account>:root
	IdentityUser = "user" // arn:<p>:iam::<account>:user/<name>
	IdentityRole = "role" // arn:<p>:iam::<account>:role/<name>
)

// Identity limits (IAM's quotas where they exist).
const (
	MaxAccessKeysPerIdentity = 2
	MaxPoliciesPerIdentity   = 10
	MaxTagsPerIdentity       = 50
)

// Identity is one principal. A *Identity obtained from the FSM is immutable.
type Identity struct {
	ARN        string        `json:"arn"`
	Type       string        `json:"type"`
	Name       string        `json:"name"`
	CreatedAt  int64         `json:"created_at"`
	Tags       []Tag         `json:"tags,omitzero"`     // sorted by Key; aws:PrincipalTag/<k>
	Policies   []NamedPolicy `json:"policies,omitzero"` // sorted by Name
	AccessKeys []AccessKey   `json:"access_keys,omitzero"`
}

// NamedPolicy is one inline identity policy (validated by the proposer).
type NamedPolicy struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

// AccessKey is one access key of an identity. SealedSecret is the secret
// access key sealed under the region keyring by the proposer; it is opaque
// here and never leaves the node in any answer.
type AccessKey struct {
	ID           string `json:"id"`
	SealedSecret []byte `json:"sealed_secret"`
	CreatedAt    int64  `json:"created_at"`
}

// CreateIdentity adds a principal, optionally with its first access key.
type CreateIdentity struct {
	Req
	Identity Identity `json:"identity"`
}

// DeleteIdentity removes a principal with its access keys and policies.
type DeleteIdentity struct {
	Req
	ARN string `json:"arn"`
}

// CreateAccessKey adds an access key to an identity.
type CreateAccessKey struct {
	Req
	ARN string    `json:"arn"`
	Key AccessKey `json:"key"`
}

// DeleteAccessKey removes an access key.
type DeleteAccessKey struct {
	Req
	ARN         string `json:"arn"`
	AccessKeyID string `json:"access_key_id"`
}

// PutIdentityPolicy adds or replaces an inline policy by name.
type PutIdentityPolicy struct {
	Req
	ARN    string      `json:"arn"`
	Policy NamedPolicy `json:"policy"`
}

// DeleteIdentityPolicy removes an inline policy by name.
type DeleteIdentityPolicy struct {
	Req
	ARN  string `json:"arn"`
	Name string `json:"name"`
}

// Type implements Command.
func (*CreateIdentity) Type() CommandType { return CmdCreateIdentity }

// Type implements Command.
func (*DeleteIdentity) Type() CommandType { return CmdDeleteIdentity }

// Type implements Command.
func (*CreateAccessKey) Type() CommandType { return CmdCreateAccessKey }

// Type implements Command.
func (*DeleteAccessKey) Type() CommandType { return CmdDeleteAccessKey }

// Type implements Command.
func (*PutIdentityPolicy) Type() CommandType { return CmdPutIdentityPolicy }

// Type implements Command.
func (*DeleteIdentityPolicy) Type() CommandType { return CmdDeleteIdentityPolicy }

func init() {
	table[CmdCreateIdentity] = stateRule(func() *CreateIdentity { return &CreateIdentity{} }, (*state).createIdentity)
	table[CmdDeleteIdentity] = stateRule(func() *DeleteIdentity { return &DeleteIdentity{} }, (*state).deleteIdentity)
	table[CmdCreateAccessKey] = identityRule(func() *CreateAccessKey { return &CreateAccessKey{} }, createAccessKey)
	table[CmdDeleteAccessKey] = identityRule(func() *DeleteAccessKey { return &DeleteAccessKey{} }, deleteAccessKey)
	table[CmdPutIdentityPolicy] = identityRule(func() *PutIdentityPolicy { return &PutIdentityPolicy{} }, putIdentityPolicy)
	table[CmdDeleteIdentityPolicy] = identityRule(func() *DeleteIdentityPolicy { return &DeleteIdentityPolicy{} }, deleteIdentityPolicy)
}

// identityCommand is a command that edits one existing identity.
type identityCommand interface {
	Command
	identityARN() string
}

func (c *CreateAccessKey) identityARN() string      { return c.ARN }
func (c *DeleteAccessKey) identityARN() string      { return c.ARN }
func (c *PutIdentityPolicy) identityARN() string    { return c.ARN }
func (c *DeleteIdentityPolicy) identityARN() string { return c.ARN }

// identityRule edits a private copy of one identity, installed only if the
// edit succeeds (as keyRule does for keys).
func identityRule[C identityCommand](newC func() C, edit func(st *state, id *Identity, c C) error) rule {
	return rule{
		new: func() Command { return newC() },
		apply: func(st *state, c Command) (string, error) {
			ic := c.(C)
			id, ok := st.identities[ic.identityARN()]
			if !ok {
				return "", rejectf(ErrIdentityNotFound, ic.identityARN(), "")
			}
			cp := *id
			if err := edit(st, &cp, ic); err != nil {
				return "", err
			}
			st.putIdentity(&cp)
			return "", nil
		},
	}
}

func (st *state) createIdentity(c *CreateIdentity) error {
	id := c.Identity
	if id.ARN == "" || id.Name == "" || (id.Type != IdentityRoot && id.Type != IdentityUser && id.Type != IdentityRole) {
		return fmt.Errorf("%w: identity without ARN, name or type", ErrBadCommand)
	}
	if len(id.AccessKeys) > MaxAccessKeysPerIdentity || len(id.Policies) > MaxPoliciesPerIdentity || len(id.Tags) > MaxTagsPerIdentity {
		return rejectf(ErrLimitExceeded, id.ARN, "")
	}
	if _, ok := st.identities[id.ARN]; ok {
		return rejectf(ErrIdentityExists, id.ARN, "")
	}
	for _, ak := range id.AccessKeys {
		if _, ok := st.accessKeys[ak.ID]; ok || ak.ID == "" {
			return rejectf(ErrConflict, ak.ID, "")
		}
	}
	id.Tags = append([]Tag(nil), id.Tags...)
	sort.SliceStable(id.Tags, func(i, j int) bool { return id.Tags[i].Key < id.Tags[j].Key })
	id.Policies = append([]NamedPolicy(nil), id.Policies...)
	sort.SliceStable(id.Policies, func(i, j int) bool { return id.Policies[i].Name < id.Policies[j].Name })
	id.AccessKeys = append([]AccessKey(nil), id.AccessKeys...)
	st.putIdentity(&id)
	return nil
}

func (st *state) deleteIdentity(c *DeleteIdentity) error {
	id, ok := st.identities[c.ARN]
	if !ok {
		return rejectf(ErrIdentityNotFound, c.ARN, "")
	}
	for _, ak := range id.AccessKeys {
		delete(st.accessKeys, ak.ID)
	}
	delete(st.identities, c.ARN)
	st.identityARNs = removeSorted(st.identityARNs, c.ARN)
	return nil
}

func createAccessKey(st *state, id *Identity, c *CreateAccessKey) error {
	if c.Key.ID == "" || len(c.Key.SealedSecret) == 0 {
		return fmt.Errorf("%w: access key without ID or secret", ErrBadCommand)
	}
	if _, ok := st.accessKeys[c.Key.ID]; ok {
		return rejectf(ErrConflict, c.Key.ID, "")
	}
	if len(id.AccessKeys) >= MaxAccessKeysPerIdentity {
		return rejectf(ErrLimitExceeded, id.ARN, "")
	}
	id.AccessKeys = append(append([]AccessKey(nil), id.AccessKeys...), c.Key)
	return nil
}

func deleteAccessKey(st *state, id *Identity, c *DeleteAccessKey) error {
	keys := make([]AccessKey, 0, len(id.AccessKeys))
	for _, ak := range id.AccessKeys {
		if ak.ID != c.AccessKeyID {
			keys = append(keys, ak)
		}
	}
	if len(keys) == len(id.AccessKeys) {
		return rejectf(ErrIdentityNotFound, c.AccessKeyID, "")
	}
	delete(st.accessKeys, c.AccessKeyID)
	id.AccessKeys = keys
	return nil
}

func putIdentityPolicy(_ *state, id *Identity, c *PutIdentityPolicy) error {
	if c.Policy.Name == "" || c.Policy.Document == "" {
		return fmt.Errorf("%w: policy without name or document", ErrBadCommand)
	}
	ps := make([]NamedPolicy, 0, len(id.Policies)+1)
	for _, p := range id.Policies {
		if p.Name != c.Policy.Name {
			ps = append(ps, p)
		}
	}
	if len(ps) >= MaxPoliciesPerIdentity {
		return rejectf(ErrLimitExceeded, id.ARN, "")
	}
	ps = append(ps, NamedPolicy{Name: c.Policy.Name, Document: intern(c.Policy.Document)})
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	id.Policies = ps
	return nil
}

func deleteIdentityPolicy(_ *state, id *Identity, c *DeleteIdentityPolicy) error {
	ps := make([]NamedPolicy, 0, len(id.Policies))
	for _, p := range id.Policies {
		if p.Name != c.Name {
			ps = append(ps, p)
		}
	}
	if len(ps) == len(id.Policies) {
		return rejectf(ErrIdentityNotFound, c.Name, "")
	}
	id.Policies = ps
	return nil
}

// putIdentity installs an identity record and indexes its access keys.
func (st *state) putIdentity(id *Identity) {
	if old, ok := st.identities[id.ARN]; ok {
		for _, ak := range old.AccessKeys {
			delete(st.accessKeys, ak.ID)
		}
	} else {
		st.identityARNs = insertSorted(st.identityARNs, id.ARN)
	}
	st.identities[id.ARN] = id
	for _, ak := range id.AccessKeys {
		st.accessKeys[ak.ID] = id.ARN
	}
}

// Identity returns the identity with an ARN.
func (f *FSM) Identity(arn string) (*Identity, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	id, ok := f.st.identities[arn]
	return id, ok
}

// IdentityByAccessKey returns the identity owning an access key and the key.
func (f *FSM) IdentityByAccessKey(akid string) (*Identity, *AccessKey, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	arn, ok := f.st.accessKeys[akid]
	if !ok {
		return nil, nil, false
	}
	id := f.st.identities[arn]
	for i := range id.AccessKeys {
		if id.AccessKeys[i].ID == akid {
			return id, &id.AccessKeys[i], true
		}
	}
	return nil, nil, false
}

// ListIdentities pages through identities in ARN order after `after`.
func (f *FSM) ListIdentities(after string, limit int) ([]*Identity, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	i := sort.SearchStrings(f.st.identityARNs, after)
	if i < len(f.st.identityARNs) && f.st.identityARNs[i] == after {
		i++
	}
	var out []*Identity
	for ; i < len(f.st.identityARNs) && len(out) < limit; i++ {
		out = append(out, f.st.identities[f.st.identityARNs[i]])
	}
	return out, i < len(f.st.identityARNs)
}

// IdentityCount is the number of identities.
func (f *FSM) IdentityCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.st.identities)
}
