package kms

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/policy"
)

// validation returns a ValidationException in AWS's wording for one member.
func validation(path, value, constraint string) error {
	return &Error{Kind: ErrValidation, Msg: wire.NewValidationError(path, value, constraint).Msg}
}

var aliasNameRE = regexp.MustCompile(`^alias/[a-zA-Z0-9:/_-]{1,250}$`)

// checkAliasName applies AWS's alias naming rules beyond the model pattern.
func checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") {
		return errorf(ErrInvalidAliasName, "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	if strings.HasPrefix(name, "alias/aws/") || name == "alias/aws" {
		return errorf(ErrInvalidAliasName, "Alias names that begin with \"alias/aws/\" are reserved for AWS managed keys.")
	}
	if !aliasNameRE.MatchString(name) {
		return errorf(ErrInvalidAliasName, "Alias name %s is not valid: after \"alias/\" use 1 to 250 characters of a-z, A-Z, 0-9, '/', '_', '-' and ':'.", name)
	}
	return nil
}

// checkTags validates tags for TagResource and CreateKey and converts them.
func checkTags(tags []wire.Tag) ([]fsm.Tag, error) {
	seen := make(map[string]bool, len(tags))
	out := make([]fsm.Tag, 0, len(tags))
	for _, t := range tags {
		if strings.HasPrefix(t.TagKey, "aws:") {
			return nil, errorf(ErrTag, "Tag keys beginning with 'aws:' are reserved for AWS use.")
		}
		if seen[t.TagKey] {
			return nil, errorf(ErrTag, "Duplicate tag keys: %s", t.TagKey)
		}
		if !tagText(t.TagKey) || !tagText(t.TagValue) {
			return nil, errorf(ErrTag, "Tag keys and values may hold Unicode letters, digits, white space and _ . : / = + - @ only.")
		}
		seen[t.TagKey] = true
		out = append(out, fsm.Tag{Key: t.TagKey, Value: t.TagValue})
	}
	if len(out) > fsm.MaxTagsPerKey {
		return nil, errorf(ErrTag, "A KMS key can have at most %d tags.", fsm.MaxTagsPerKey)
	}
	return out, nil
}

// checkPolicy parses a key policy; an invalid one is MalformedPolicyDocument.
func checkPolicy(doc string) error {
	if _, err := policy.Parse(doc); err != nil {
		return errorf(ErrMalformedPolicy, "The key policy is not a valid policy document: %s", strings.TrimPrefix(err.Error(), "policy: "))
	}
	return nil
}

// checkPolicyName accepts only "default", the one policy name KMS has.
func (s *Service) checkPolicyName(name, keyID string) error {
	if name != "" && name != defaultPolicyName {
		return errorf(ErrNotFound, "No such policy exists: %s on %s", name, s.keyARN(keyID))
	}
	return nil
}

// checkAlgorithm accepts the one symmetric encryption algorithm.
func (s *Service) checkAlgorithm(alg, keyID string) error {
	if alg != "" && alg != algSymmetric {
		return errorf(ErrInvalidKeyUsage, "The encryption algorithm %s is not valid for %s, a symmetric key.", alg, s.keyARN(keyID))
	}
	return nil
}

// tagText applies AWS's tag character set: Unicode letters, digits, white
// space (no other control characters) and _ . : / = + - @.
func tagText(s string) bool {
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == ' ', r == '\t':
		case strings.ContainsRune("_.:/=+-@", r):
		default:
			return false
		}
	}
	return true
}
