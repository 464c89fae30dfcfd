package kms

import (
	"context"
	"strings"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

func (s *Service) arnPrefix() string { return s.prefix }

// keyARN returns the ARN of a key ID in this region.
func (s *Service) keyARN(id string) string { return s.arnPrefix() + "key/" + id }

// aliasARN returns the ARN of an alias name ("alias/x") in this region.
func (s *Service) aliasARN(name string) string { return s.arnPrefix() + name }

// keyRefKind says which forms of key reference an operation accepts.
type keyRefKind int

const (
	keyOrAlias keyRefKind = iota // key ID, key ARN, alias name, alias ARN
	keyOnly                      // key ID or key ARN
)

// resolveKey finds the key a KeyId parameter names and checks that the
// caller may perform op on it (authz.go) with no encryption context.
func (s *Service) resolveKey(ctx context.Context, op, ref string, kind keyRefKind) (*fsm.Key, error) {
	k, err := s.findKey(ctx, ref, kind)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKey(ctx, op, k, nil); err != nil {
		return nil, err
	}
	return k, nil
}

// findKey finds the key a KeyId parameter names, without authorization. A
// miss renews the read lease once and looks again, so a key created through
// another node a moment ago is found (ARCHITECTURE.md decision 4).
func (s *Service) findKey(ctx context.Context, ref string, kind keyRefKind) (*fsm.Key, error) {
	k, err := s.lookupKey(ref, kind)
	if err != nil && isNotFound(err) && s.cluster.RenewLease(ctx) == nil {
		k, err = s.lookupKey(ref, kind)
	}
	if err == nil {
		ri := RequestFrom(ctx)
		ri.KeyARN = s.keyARN(k.ID)
		// kms:RequestAlias is this reference's alias, never an earlier
		// one's (ReEncrypt resolves two keys). A key ID never holds "alias/".
		ri.RequestAlias = ""
		if i := strings.Index(ref, "alias/"); i >= 0 {
			ri.RequestAlias = ref[i:]
		}
	}
	return k, err
}

func isNotFound(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Kind == ErrNotFound
}

func (s *Service) lookupKey(ref string, kind keyRefKind) (*fsm.Key, error) {
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		rest, ok := strings.CutPrefix(ref, s.arnPrefix())
		if !ok {
			if !validARN(ref) {
				return nil, errorf(ErrInvalidArn, "Invalid arn %s", ref)
			}
			// Another region, account or partition: not a key of this region.
			return nil, errorf(ErrNotFound, "Key '%s' does not exist", ref)
		}
		switch {
		case strings.HasPrefix(rest, "key/"):
			// A key ARN carries a key ID, never an alias ("key/alias/x").
			kr, err := crypto.ParseKeyID(strings.TrimPrefix(rest, "key/"))
			if err != nil {
				return nil, errorf(ErrNotFound, "Key '%s' does not exist", ref)
			}
			name = kr.String()
		case strings.HasPrefix(rest, "alias/"):
			name = rest
		default:
			return nil, errorf(ErrInvalidArn, "Invalid arn %s", ref)
		}
	}
	if strings.HasPrefix(name, "alias/") {
		if kind == keyOnly {
			return nil, errorf(ErrNotFound, "Invalid keyId '%s'. Specify a key ID or key ARN.", ref)
		}
		a, ok := s.fsm.Alias(name)
		if !ok {
			return nil, errorf(ErrNotFound, "Alias '%s' is not found.", s.aliasARN(name))
		}
		name = a.KeyID
	} else {
		kr, err := crypto.ParseKeyID(name)
		if err != nil {
			return nil, errorf(ErrNotFound, "Invalid keyId '%s'", ref)
		}
		name = kr.String() // canonical (lowercase) form, as stored
	}
	k, ok := s.fsm.Key(name)
	if !ok {
		return nil, s.keyNotFound(name)
	}
	return k, nil
}

// validARN reports whether s has the six colon-separated parts of an ARN.
func validARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[1] != "" && parts[2] != "" && parts[5] != ""
}

// usableForCrypto checks that a key can run a cryptographic operation now.
func (s *Service) usableForCrypto(k *fsm.Key) error {
	switch k.State {
	case fsm.StateEnabled:
	case fsm.StateDisabled:
		return errorf(ErrDisabled, "%s is disabled.", s.keyARN(k.ID))
	default:
		return s.stateError(k.ID, k.State)
	}
	if k.Usage != keyUsageEncryptDecrypt {
		return errorf(ErrInvalidKeyUsage, "%s key usage is %s which is not valid for this operation.", s.keyARN(k.ID), k.Usage)
	}
	return nil
}

// notPendingDeletion is the check of management operations that AWS refuses
// on a key scheduled for deletion.
func (s *Service) notPendingDeletion(k *fsm.Key) error {
	if k.State == fsm.StatePendingDeletion {
		return s.stateError(k.ID, k.State)
	}
	return nil
}
