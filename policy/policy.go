package policy

import (
	"encoding/json"
	"errors"
	"strconv"
)

// ErrMalformed is returned, wrapped with a human reason, for any document
// that is not valid JSON or not valid AWS policy grammar. The API maps it to
// MalformedPolicyDocumentException.
var ErrMalformed = errors.New("policy: malformed policy document")

// ErrTooLarge is returned, wrapped, for a document longer than [MaxSize]
// characters. It wraps [ErrMalformed], so errors.Is(err, ErrMalformed) holds
// too; an API that wants AWS's exact answer (LimitExceededException) checks
// ErrTooLarge first.
var ErrTooLarge error = tooLargeError{}

type tooLargeError struct{}

func (tooLargeError) Error() string {
	return "policy: policy document exceeds " + strconv.Itoa(MaxSize) + " characters"
}

func (tooLargeError) Unwrap() error { return ErrMalformed }

// MaxSize is the maximum policy document size in characters. It is the "max"
// of the PolicyType shape in the botocore KMS model (2014-11-01), which also
// sets a minimum of 1 and restricts characters to tab, LF, CR and
// U+0020..U+00FF. (Older AWS documentation states a 32 KiB key policy
// quota; the current model allows 131072.)
const MaxSize = 131072

// Policy language versions accepted in a document's Version element.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Statement effects.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// Document is a parsed IAM-grammar policy. Treat a parsed Document as
// read-only: Parse also compiles it for evaluation, and changes made later
// would not be seen by Evaluate.
type Document struct {
	Version    string // "2012-10-17", "2008-10-17" or "" when absent
	ID         string // the Id element, "" when absent
	Statements []Statement

	prog *program // compiled by Parse; nil for a Document built by hand
}

// Statement is one statement of a [Document]. Exactly one of Principal and
// NotPrincipal, one of Action and NotAction and one of Resource and
// NotResource is set; in an identity policy ([ParseIdentity]) neither
// Principal nor NotPrincipal is.
type Statement struct {
	Sid    string
	Effect string // EffectAllow or EffectDeny

	Principal, NotPrincipal *Principals // nil if absent; "*" → Principals{Any: true}

	Action, NotAction     []string
	Resource, NotResource []string

	// Condition maps operator → condition key → values. Single values are
	// normalised to one-element slices; booleans and numbers are kept as
	// their JSON text. Nil when the statement has no Condition.
	Condition map[string]map[string][]string
}

// Principals is the value of a Principal or NotPrincipal element.
type Principals struct {
	Any           bool     // the element was the string "*"
	AWS           []string // account IDs, IAM/STS ARNs or "*"
	Service       []string // service principals such as "ec2.amazonaws.com"
	Federated     []string // identity providers
	CanonicalUser []string // accepted for IAM grammar; never matches in KMS
}

// DefaultKeyPolicy returns AWS KMS's default key policy for a key in the
// given partition and account, formatted as GetKeyPolicy returns it: a
// single statement "Enable IAM User Permissions" that lets the account root
// (and so the account's IAM policies) do kms:* on the key.
func DefaultKeyPolicy(partition, account string) string {
	root, _ := json.Marshal("arn:" + partition + ":iam::" + account + ":root") // marshalling a string cannot fail
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : ` + string(root) + `
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}
