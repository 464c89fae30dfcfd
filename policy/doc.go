// Package policy parses and validates AWS IAM-grammar policy documents as
// AWS KMS accepts them for key policies (CreateKey, PutKeyPolicy,
// ReplicateKey), and builds AWS KMS's default key policy.
//
// It imports only the Go standard library. Invariants:
//
//   - [Parse] either returns a [Document] that satisfies every rule below or
//     an error that wraps [ErrMalformed] with a human reason; the API layer
//     maps that error to MalformedPolicyDocumentException. A document longer
//     than [MaxSize] characters also matches [ErrTooLarge], which AWS answers
//     with LimitExceededException.
//   - A parsed [Statement] has Effect [EffectAllow] or [EffectDeny], exactly
//     one of Principal/NotPrincipal, exactly one of Action/NotAction and
//     exactly one of Resource/NotResource. Element names and Effect values
//     are matched case-sensitively, as IAM does.
//   - Wherever IAM accepts "a string or an array of strings" so does Parse;
//     the result is always a slice. Principal "*" becomes Principals{Any:
//     true}; {"AWS":"*"} is kept literally as AWS: ["*"] (both mean anyone).
//   - Condition values keep their JSON text: strings unquoted, booleans as
//     "true"/"false", numbers exactly as written ("1.50" stays "1.50").
//   - Parse never evaluates anything and never panics on any input
//     (FuzzParse).
//
// Where this package is stricter or looser than AWS, on purpose:
//
//   - AWS's PutKeyPolicy accepts a statement that lacks Action or Resource
//     (the statement then has no effect, and the KMS console reports it as an
//     error). Parse rejects it, as the console does: a Deny that silently
//     denies nothing is a trap.
//   - Duplicate object keys are not rejected; the last one wins (the
//     encoding/json behaviour). The caller stores and returns the document
//     text unchanged, so nothing inside kmsnode can read it differently.
//   - A missing Version is accepted and left empty; AWS then applies the
//     2008-10-17 rules (no policy variables).
//   - Unknown condition operators are rejected, so an evaluator never meets
//     one: ignoring an unknown operator in a Deny statement would fail open.
//
// Evaluation (explicit Deny wins, the account-root delegation to identity
// policies, grants, condition operators and keys, the lockout safety check)
// is not here yet. It is meant to live in this package beside the parser: a
// request type carrying principal ARN, action, resource and a condition-key
// context, and a method on *Document returning allow/deny/no-match with the
// deciding Sid for the audit log. The unexported parseOperator already
// splits "ForAnyValue:StringLikeIfExists" into its parts for that evaluator.
package policy
