package policy

import (
	"fmt"
	"strings"
)

// checkSid accepts letters, digits and spaces: IAM's alphanumeric Sid plus
// the spaces AWS uses in its own key policies ("Enable IAM User
// Permissions").
func checkSid(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != ' ' {
			return fmt.Errorf("%q may hold only letters, digits and spaces", s)
		}
	}
	return nil
}

// checkAction accepts "*" or "<service>:<action>" where the service prefix
// is letters, digits and hyphens and the action is letters, digits and the
// wildcards * and ?: "kms:Encrypt", "kms:*", "kms:Describe*".
func checkAction(s string) error {
	if s == "*" {
		return nil
	}
	svc, act, ok := strings.Cut(s, ":")
	if !ok || svc == "" || act == "" {
		return fmt.Errorf("action %q must be \"*\" or \"<service>:<action>\"", s)
	}
	for i := 0; i < len(svc); i++ {
		if c := svc[i]; !isAlnum(c) && c != '-' {
			return fmt.Errorf("action %q has an invalid service prefix", s)
		}
	}
	for i := 0; i < len(act); i++ {
		if c := act[i]; !isAlnum(c) && c != '*' && c != '?' {
			return fmt.Errorf("action %q has an invalid action name", s)
		}
	}
	return nil
}

// checkResource accepts "*" or an ARN of six colon-separated fields, which
// may hold wildcards ("arn:aws:kms:*:111122223333:key/*").
func checkResource(s string) error {
	if s == "*" {
		return nil
	}
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] == "" || f[2] == "" || f[5] == "" || hasSpaceOrControl(s) {
		return fmt.Errorf("resource %q must be \"*\" or an ARN", s)
	}
	return nil
}

// checkAWSPrincipal accepts "*", a 12-digit account ID or an ARN
// arn:<partition>:<service>:<region>:<account>:<resource> with a 12-digit
// account. IAM allows no wildcard inside a principal, and neither do we, so
// an evaluator can compare principals exactly.
func checkAWSPrincipal(s string) error {
	if s == "*" || isAccountID(s) {
		return nil
	}
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] == "" || f[2] == "" || !isAccountID(f[4]) || f[5] == "" {
		return fmt.Errorf("principal %q must be \"*\", a 12-digit account ID or an ARN", s)
	}
	if strings.ContainsAny(s, "*?") || hasSpaceOrControl(s) {
		return fmt.Errorf("principal %q must not contain wildcards or spaces", s)
	}
	return nil
}

// checkToken accepts a non-empty string without spaces or control
// characters: service principals, identity providers, canonical users.
func checkToken(s string) error {
	if s == "" || hasSpaceOrControl(s) {
		return fmt.Errorf("principal %q must be a non-empty string without spaces", s)
	}
	return nil
}

// checkConditionKey accepts any non-empty key without control characters:
// kms:EncryptionContext:<key> carries a caller's context key, which may hold
// spaces.
func checkConditionKey(s string) error {
	if s == "" {
		return fmt.Errorf("condition key must not be empty")
	}
	for _, r := range s {
		if r < ' ' || r == 0x7F || (r >= 0x80 && r <= 0x9F) {
			return fmt.Errorf("condition key %q must not contain control characters", s)
		}
	}
	return nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func hasSpaceOrControl(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7F || (r >= 0x80 && r <= 0x9F) || r == 0xA0 {
			return true
		}
	}
	return false
}

// operator is a condition operator split into its parts:
// "ForAnyValue:StringLikeIfExists" → {set: "ForAnyValue", base: "StringLike",
// ifExists: true}.
type operator struct {
	set      string // "", "ForAnyValue" or "ForAllValues"
	base     string // one of baseOperators
	ifExists bool
}

// baseOperators are IAM's condition operators.
var baseOperators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true,
	"StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true,
	"NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true,
	"DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "BinaryEquals": true,
	"IpAddress": true, "NotIpAddress": true,
	"ArnEquals": true, "ArnNotEquals": true, "ArnLike": true, "ArnNotLike": true,
	"Null": true,
}

// parseOperator splits a condition operator name. Null takes neither a set
// qualifier nor IfExists.
func parseOperator(name string) (operator, bool) {
	var op operator
	if set, rest, ok := strings.Cut(name, ":"); ok {
		if set != "ForAnyValue" && set != "ForAllValues" {
			return op, false
		}
		op.set, name = set, rest
	}
	if base, ok := strings.CutSuffix(name, "IfExists"); ok {
		op.ifExists, name = true, base
	}
	if !baseOperators[name] || (name == "Null" && (op.set != "" || op.ifExists)) {
		return op, false
	}
	op.base = name
	return op, true
}
