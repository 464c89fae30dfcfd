package kms

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// Identity administration: kmsnode's own operations (X-Amz-Target prefix
// KmsNodeOperator.), signed with SigV4 like every call and authorized as the
// IAM actions kmsnode:<Operation> by the caller's identity policies. They
// are to the region what IAM is to an AWS account, cut down to what a key
// service needs: users and roles, at most two access keys each, inline
// identity policies and tags (aws:PrincipalTag/<key>).

// IdentityInfo describes an identity in answers; it never carries a secret.
type IdentityInfo struct {
	Arn        string          `json:"Arn"`
	Name       string          `json:"Name"`
	Type       string          `json:"Type"`
	CreatedAt  float64         `json:"CreatedAt"`
	Tags       []IdentityTag   `json:"Tags,omitempty"`
	AccessKeys []AccessKeyInfo `json:"AccessKeys,omitempty"`
	Policies   []string        `json:"PolicyNames,omitempty"`
}

// IdentityTag is a principal tag.
type IdentityTag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// AccessKeyInfo names an access key; SecretAccessKey is set only in the
// answer that creates it, the one time the secret is shown.
type AccessKeyInfo struct {
	AccessKeyId     string  `json:"AccessKeyId"`
	SecretAccessKey string  `json:"SecretAccessKey,omitempty"`
	CreatedAt       float64 `json:"CreatedAt"`
}

var identityNameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)

// identityARN turns an identity reference into an ARN of this account:
// a full ARN, "root", "user/<name>", "role/<name>", or a bare user name.
func (s *Service) identityARN(ref string) (arn, typ, name string, err error) {
	base := "arn:" + s.cfg.Partition + ":iam::" + s.cfg.AccountID + ":"
	rest := ref
	if strings.HasPrefix(ref, "arn:") {
		var ok bool
		if rest, ok = strings.CutPrefix(ref, base); !ok {
			return "", "", "", validation("Identity", ref, "Member must be an identity of account "+s.cfg.AccountID)
		}
	}
	switch {
	case rest == "root":
		return base + "root", fsm.IdentityRoot, "root", nil
	case strings.HasPrefix(rest, "user/"):
		typ, name = fsm.IdentityUser, rest[len("user/"):]
	case strings.HasPrefix(rest, "role/"):
		typ, name = fsm.IdentityRole, rest[len("role/"):]
	case !strings.Contains(rest, "/") && !strings.Contains(ref, "arn:"):
		typ, name = fsm.IdentityUser, rest
	default:
		return "", "", "", validation("Identity", ref, "Member must be root, user/<name>, role/<name> or an identity ARN")
	}
	if !identityNameRE.MatchString(name) {
		return "", "", "", validation("Identity", ref, `Member must satisfy regular expression pattern: [\w+=,.@-]{1,64}`)
	}
	return base + typ + "/" + name, typ, name, nil
}

// authorizeIdentityKeys checks an access-key operation on the identity arn:
// the action on that identity's ARN, as IAM scopes iam:CreateAccessKey to
// the user; and the account root's keys only for the root itself, since a
// root key opens everything a default key policy guards.
func (s *Service) authorizeIdentityKeys(ctx context.Context, action, arn string) error {
	ri := RequestFrom(ctx)
	if arn == s.rootARN() && ri.Principal != arn {
		return s.denied(ri, action, arn, "", false)
	}
	return s.authorizeResource(ctx, action, arn)
}

// identityError maps FSM rejections of identity commands.
func (s *Service) identityError(err error, arn string) error {
	switch {
	case errors.Is(err, fsm.ErrIdentityNotFound):
		return errorf(ErrNotFound, "Identity or item '%s' does not exist.", arn)
	case errors.Is(err, fsm.ErrIdentityExists):
		return errorf(ErrAlreadyExists, "Identity %s already exists.", arn)
	case errors.Is(err, fsm.ErrLimitExceeded):
		return errorf(ErrLimitExceeded, "%s has reached a limit: %d access keys, %d policies, %d tags.", arn, fsm.MaxAccessKeysPerIdentity, fsm.MaxPoliciesPerIdentity, fsm.MaxTagsPerIdentity)
	case errors.Is(err, fsm.ErrConflict):
		return errorf(ErrConflict, "The access key ID collided with an existing one. Retry the request.")
	}
	return s.fsmError(err)
}

// newAccessKey draws an access key: "AKIA" + 16 base32 characters (AWS's
// shape) and a 40-character secret, sealed under the region keyring.
func (s *Service) newAccessKey(at int64) (fsm.AccessKey, string, error) {
	if s.Sealed() {
		return fsm.AccessKey{}, "", errorf(ErrSealed, "This node is sealed and cannot create access keys.")
	}
	var idb [10]byte
	var sec [30]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return fsm.AccessKey{}, "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return fsm.AccessKey{}, "", err
	}
	defer clear(sec[:])
	akid := "AKIA" + base32.StdEncoding.EncodeToString(idb[:])
	text := make([]byte, base64.StdEncoding.EncodedLen(len(sec)))
	base64.StdEncoding.Encode(text, sec[:])
	defer clear(text)
	sealed, err := s.keyring.SealMaterial(text, crypto.SealAAD{Region: s.cfg.Region, KeyID: akid, Purpose: purposeAccessKey})
	if err != nil {
		return fsm.AccessKey{}, "", err
	}
	return fsm.AccessKey{ID: akid, SealedSecret: sealed, CreatedAt: at}, string(text), nil
}

// String describes k without its secret, so printing an AccessKeyInfo
// (any verb, through String, GoString or Format) never reveals it.
func (k AccessKeyInfo) String() string {
	s := "AccessKeyInfo{AccessKeyId: " + k.AccessKeyId
	if k.SecretAccessKey != "" {
		s += ", SecretAccessKey: [REDACTED]"
	}
	return s + "}"
}

// GoString is String.
func (k AccessKeyInfo) GoString() string { return k.String() }

// Format writes String for every verb.
func (k AccessKeyInfo) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

func (s *Service) identityInfo(id *fsm.Identity) IdentityInfo {
	out := IdentityInfo{Arn: id.ARN, Name: id.Name, Type: id.Type, CreatedAt: unixSeconds(id.CreatedAt)}
	for _, t := range id.Tags {
		out.Tags = append(out.Tags, IdentityTag{TagKey: t.Key, TagValue: t.Value})
	}
	for _, ak := range id.AccessKeys {
		out.AccessKeys = append(out.AccessKeys, AccessKeyInfo{AccessKeyId: ak.ID, CreatedAt: unixSeconds(ak.CreatedAt)})
	}
	for _, p := range id.Policies {
		out.Policies = append(out.Policies, p.Name)
	}
	return out
}

func unixSeconds(ms int64) float64 { return float64(ms) / 1000 }

// checkIdentityPolicy validates an identity policy document.
func checkIdentityPolicy(doc string) error {
	if _, err := policy.ParseIdentity(doc); err != nil {
		if errors.Is(err, policy.ErrTooLarge) {
			return errorf(ErrLimitExceeded, "%s", err.Error())
		}
		return errorf(ErrMalformedPolicy, "%s", err.Error())
	}
	return nil
}

// CreateRootIdentity creates the account root identity with one access key,
// the first time a region starts (node.Start on the leader). It returns the
// access key only when this call created it: the secret is shown once.
func (s *Service) CreateRootIdentity(ctx context.Context) (akid, secret string, err error) {
	if s.fsm.IdentityCount() > 0 {
		return "", "", nil
	}
	at := s.now()
	ak, sec, err := s.newAccessKey(at)
	if err != nil {
		return "", "", err
	}
	id := fsm.Identity{ARN: s.rootARN(), Type: fsm.IdentityRoot, Name: "root", CreatedAt: at, AccessKeys: []fsm.AccessKey{ak}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := &fsm.CreateIdentity{Req: fsm.Req{ID: newRequestID(), At: at}, Identity: id}
	// A new region starts at command level 1; its leader raises the level
	// within a second of seeing every node (cluster/level.go).
	for err = s.cluster.Apply(ctx, cmd); errors.Is(err, cluster.ErrUpgradeInProgress); err = s.cluster.Apply(ctx, cmd) {
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return "", "", fmt.Errorf("kms: the region's command level was not raised: %w", err)
		}
	}
	if errors.Is(err, fsm.ErrIdentityExists) {
		return "", "", nil // another node of the region created it
	}
	if err != nil {
		return "", "", err
	}
	return ak.ID, sec, nil
}
