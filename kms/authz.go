package kms

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// Authorization as AWS KMS does it (ARCHITECTURE.md decision 9): every call
// is checked against the key policy, the caller's identity policies and the
// key's grants. An explicit Deny in a policy wins; the key policy must allow
// the caller directly or trust the account (arn:aws:iam::<account>:root),
// which then delegates to the identity policies; failing both, a grant on the
// key may allow the operation. Operations on no key (CreateKey, ListKeys,
// GenerateRandom, the kmsnode administration calls) are decided by the
// identity policies alone, as IAM decides them.
//
// Callers:
//   - the account root (arn:<p>:iam::<account>:root) has no identity
//     policies and counts as allowed by them, as in IAM;
//   - an identity of the region: its inline policies;
//   - an access key from the node's configuration (kmsnode dev's fixed
//     identity, serve's --access-key-id): an operator credential with an
//     identity policy that allows every action, like an IAM user with
//     AdministratorAccess. Key policies still apply to it: a key whose
//     policy neither names it nor trusts the account is closed to it too.

// adminPolicy is the identity policy of configured operator credentials.
var adminPolicy = mustParseIdentity(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)

func mustParseIdentity(doc string) *policy.Document {
	d, err := policy.ParseIdentity(doc)
	if err != nil {
		panic(err)
	}
	return d
}

// adminPolicies is the identity policy list of operator credentials.
var adminPolicies = []*policy.Document{adminPolicy}

// callerAuth is what authorization needs of an identity: its parsed
// policies and its tags as condition keys. It is built once per identity
// record (records are immutable; a change installs a new one) and cached.
type callerAuth struct {
	docs []*policy.Document
	tags []policy.ContextEntry // aws:PrincipalTag/<k>
}

// callerPolicies returns the identity policies and principal tags of the
// request's caller.
func (s *Service) callerPolicies(ri *RequestInfo) (auth *callerAuth, ok bool) {
	if ri.Principal == "" {
		return nil, false // no authenticated caller: nothing is allowed
	}
	if s.admins[ri.AccessKeyID] {
		return &adminAuth, true
	}
	id, found := s.fsm.Identity(ri.Principal)
	if !found {
		// The account root needs no identity record to be itself; anyone
		// else must exist (a deleted identity's signature may still
		// verify against a cached secret for a moment).
		return &noAuth, ri.Principal == s.rootARN()
	}
	if a, ok := s.callers.Load(id); ok {
		return a.(*callerAuth), true
	}
	a := &callerAuth{docs: make([]*policy.Document, 0, len(id.Policies))}
	for _, p := range id.Policies {
		d, err := s.policies.get(p.Document, true)
		if err != nil {
			s.log.Error("stored identity policy does not parse; it is ignored", "identity", id.ARN, "policy", p.Name, "err", err)
			continue
		}
		a.docs = append(a.docs, d)
	}
	for _, t := range id.Tags {
		a.tags = append(a.tags, policy.ContextEntry{Key: "aws:PrincipalTag/" + t.Key, Values: []string{t.Value}})
	}
	if s.callerCount.Add(1) > maxCachedCallers {
		s.callers.Clear()
		s.callerCount.Store(0)
	}
	s.callers.Store(id, a)
	return a, true
}

var adminAuth, noAuth = callerAuth{docs: adminPolicies}, callerAuth{}

// maxCachedCallers bounds the identity cache; records replaced by a change
// are never looked up again and go when it is cleared.
const maxCachedCallers = 10000

// rootARN is the account root principal.
func (s *Service) rootARN() string {
	return "arn:" + s.cfg.Partition + ":iam::" + s.cfg.AccountID + ":root"
}

// authorizeKey checks that the caller may perform op (an API operation name:
// "Encrypt", "ReEncryptFrom") on key k. ec is the request's encryption
// context (nil when none).
func (s *Service) authorizeKey(ctx context.Context, op string, k *fsm.Key, ec map[string]string) error {
	ri := RequestFrom(ctx)
	action := kmsAction(op)
	resource := ri.KeyARN // findKey's answer, when it is this key
	if !strings.HasSuffix(resource, k.ID) || len(resource) != len(s.prefix)+len("key/")+len(k.ID) {
		resource = s.keyARN(k.ID)
	}
	auth, ok := s.callerPolicies(ri)
	if !ok {
		return s.denied(ri, action, resource, op, false)
	}
	keyDoc, err := s.policies.get(k.Policy, false)
	if err != nil {
		// A stored key policy passed Parse when it was put; failing now
		// means a parser change. Fail closed and say so in the log.
		s.log.Error("stored key policy does not parse; access denied", "key", k.ID, "err", err)
		return s.denied(ri, action, resource, op, false)
	}
	req := policy.Request{
		Principal: ri.Principal, Action: action, Resource: resource,
		Time: s.cfg.Clock.Now(), EncryptionContext: ec,
		Context: s.conditionKeys(ri, auth, k),
	}
	switch policy.Authorize(keyDoc, auth.docs, &req) {
	case policy.Allow:
		return nil
	case policy.Deny:
		return s.denied(ri, action, resource, op, true)
	}
	// Grants: a token names a grant this node may not have applied yet;
	// withGrantTokens catches up with the leader first (AWS's grant-token
	// purpose: usable at once).
	if len(ri.GrantTokens) > 0 {
		nk, err := s.withGrantTokens(ctx, k, ri.GrantTokens)
		if err != nil {
			if op == "Decrypt" || op == "ReEncryptFrom" {
				// A token error would tell a caller who may not use the
				// key that it exists.
				return s.denied(ri, action, resource, op, false)
			}
			return err
		}
		k = nk
	}
	if s.grantsAllow(ctx, k, op, ec) {
		return nil
	}
	return s.denied(ri, action, resource, op, false)
}

// authorizeAlias checks the alias side of CreateAlias, UpdateAlias and
// DeleteAlias: AWS asks the identity policies for the action on the alias
// ARN (the key side is the key policy's, through resolveKey).
func (s *Service) authorizeAlias(ctx context.Context, op, name string) error {
	return s.authorizeResource(ctx, "kms:"+op, s.aliasARN(name))
}

// authorizeAccount checks an operation on no key (CreateKey, ListKeys,
// GenerateRandom, kmsnode administration): identity policies alone decide.
// action is the full IAM action ("kms:CreateKey", "kmsnode:CreateIdentity").
func (s *Service) authorizeAccount(ctx context.Context, action string) error {
	return s.authorizeResource(ctx, action, "*")
}

// authorizeResource asks the identity policies alone about action on
// resource.
func (s *Service) authorizeResource(ctx context.Context, action, resource string) error {
	ri := RequestFrom(ctx)
	auth, ok := s.callerPolicies(ri)
	if !ok {
		return s.denied(ri, action, resource, "", false)
	}
	req := policy.Request{
		Principal: ri.Principal, Action: action, Resource: resource,
		Time: s.cfg.Clock.Now(), Context: s.conditionKeys(ri, auth, nil),
	}
	switch policy.Authorize(nil, auth.docs, &req) {
	case policy.Allow:
		return nil
	case policy.Deny:
		return s.denied(ri, action, resource, "", true)
	}
	return s.denied(ri, action, resource, "", false)
}

// AuthorizeAction is authorizeAccount for the API layer's own operations
// (the KmsNodeOperator.* calls).
func (s *Service) AuthorizeAction(ctx context.Context, action string) error {
	return s.authorizeAccount(ctx, action)
}

// conditionKeys returns the condition keys AWS KMS defines that kmsnode
// can supply (the policy package derives kms:CallerAccount,
// aws:PrincipalArn, kms:EncryptionContext* and the time keys itself). The
// entries live in the request's own buffer, and single values come from the
// request or from shared slices, so a check allocates nothing for them.
func (s *Service) conditionKeys(ri *RequestInfo, auth *callerAuth, k *fsm.Key) []policy.ContextEntry {
	dst := ri.condBuf[:0]
	dst = append(dst, policy.ContextEntry{Key: "kms:GrantIsForAWSResource", Values: falseValue})
	if ri.SourceIP != "" {
		ri.sourceIP[0] = ri.SourceIP
		dst = append(dst, policy.ContextEntry{Key: "aws:SourceIp", Values: ri.sourceIP[:]})
	}
	dst = append(dst, policy.ContextEntry{Key: "aws:SecureTransport", Values: boolValue(ri.Secure)})
	if ri.RequestAlias != "" {
		ri.requestAlias[0] = ri.RequestAlias
		dst = append(dst, policy.ContextEntry{Key: "kms:RequestAlias", Values: ri.requestAlias[:]})
	}
	if k != nil {
		dst = append(dst,
			policy.ContextEntry{Key: "kms:KeySpec", Values: oneValue(k.Spec)},
			policy.ContextEntry{Key: "kms:KeyUsage", Values: oneValue(k.Usage)},
			policy.ContextEntry{Key: "kms:KeyOrigin", Values: oneValue(k.Origin)},
			policy.ContextEntry{Key: "kms:MultiRegion", Values: boolValue(k.MultiRegion)},
		)
		// kms:ResourceAliases needs a scan of the aliases: only when a
		// policy could ask for it.
		if s.policies.wantsAliases.Load() {
			dst = append(dst, policy.ContextEntry{Key: "kms:ResourceAliases", Values: s.fsm.AliasesOf(k.ID)})
		}
	}
	dst = append(dst, auth.tags...)
	return append(dst, ri.PolicyContext...)
}

// oneValue returns a shared one-element slice for an enum value (key specs,
// usages, origins: a handful of strings).
func oneValue(v string) []string {
	if s, ok := oneValues.Load(v); ok {
		return s.([]string)
	}
	s := []string{v}
	oneValues.Store(v, s)
	return s
}

var oneValues sync.Map

func boolValue(b bool) []string {
	if b {
		return trueValue
	}
	return falseValue
}

// kmsAction returns "kms:"+op, built once per operation name.
func kmsAction(op string) string {
	if a, ok := actions.Load(op); ok {
		return a.(string)
	}
	a := "kms:" + op
	actions.Store(op, a)
	return a
}

var actions sync.Map

var (
	trueValue  = []string{"true"}
	falseValue = []string{"false"}
)

// denied is AWS's AccessDeniedException wording. Decrypt-side operations
// (whose key comes from the ciphertext) always get the one implicit-deny
// text, so the answer says nothing about the key or its policy.
func (s *Service) denied(ri *RequestInfo, action, resource, op string, explicit bool) error {
	who := ri.Principal
	if who == "" {
		who = "anonymous"
	}
	if explicit && op != "Decrypt" && op != "ReEncryptFrom" {
		return errorf(ErrAccessDenied, "User: %s is not authorized to perform: %s on resource: %s with an explicit deny", who, action, resource)
	}
	if op == "" { // identity policies alone decided
		return errorf(ErrAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action", who, action, resource, action)
	}
	return errorf(ErrAccessDenied, "User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action", who, action, resource, action)
}

// policyCache holds parsed policies by their text: key policies and
// identity policies are interned strings in the FSM, shared by many keys,
// so each distinct text is parsed once. It is cleared when it grows past
// maxCachedPolicies (texts of deleted keys are never looked up again).
type policyCache struct {
	mu   sync.RWMutex
	docs map[policyKey]*policy.Document
	// wantsAliases is set once any cached policy mentions
	// kms:ResourceAliases; only then do checks look up a key's aliases.
	wantsAliases atomic.Bool
}

type policyKey struct {
	text     string
	identity bool
}

const maxCachedPolicies = 4096

func (c *policyCache) get(text string, identity bool) (*policy.Document, error) {
	k := policyKey{text, identity}
	c.mu.RLock()
	d, ok := c.docs[k]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	var err error
	if identity {
		d, err = policy.ParseIdentity(text)
	} else {
		d, err = policy.Parse(text)
	}
	if err != nil {
		return nil, err
	}
	if containsFold(text, "kms:ResourceAliases") {
		c.wantsAliases.Store(true)
	}
	c.mu.Lock()
	if c.docs == nil || len(c.docs) >= maxCachedPolicies {
		c.docs = make(map[policyKey]*policy.Document)
	}
	c.docs[k] = d
	c.mu.Unlock()
	return d, nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// lockoutCheck is AWS's policy lockout safety check for CreateKey and
// PutKeyPolicy: the new policy doc of key id must allow the caller a later
// PutKeyPolicy, directly or by trusting the account.
func (s *Service) lockoutCheck(ctx context.Context, doc, id string) error {
	d, err := s.policies.get(doc, false)
	if err != nil {
		return errorf(ErrMalformedPolicy, "%s", err.Error())
	}
	ri := RequestFrom(ctx)
	req := policy.Request{Principal: ri.Principal, Resource: s.keyARN(id), Time: s.cfg.Clock.Now()}
	if !policy.LockoutSafe(d, &req) {
		return errorf(ErrMalformedPolicy, "The new key policy will not allow you to update the key policy in the future.")
	}
	return nil
}
