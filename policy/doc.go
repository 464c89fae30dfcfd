// Package policy parses, validates and evaluates AWS IAM-grammar policy
// documents as AWS KMS does for key policies (CreateKey, PutKeyPolicy,
// ReplicateKey) and identity policies, and builds AWS KMS's default key
// policy.
//
// It imports only the Go standard library. Invariants:
//
//   - [Parse] either returns a [Document] that satisfies every rule below or
//     an error that wraps [ErrMalformed] with a human reason; the API layer
//     maps that error to MalformedPolicyDocumentException. A document longer
//     than [MaxSize] characters also matches [ErrTooLarge], which AWS answers
//     with LimitExceededException.
//   - A parsed [Statement] has Effect [EffectAllow] or [EffectDeny], exactly
//     one of Principal/NotPrincipal (none in an identity policy from
//     [ParseIdentity]), exactly one of Action/NotAction and
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
// # Evaluation
//
// A [Request] (caller ARN and account, action, key ARN, condition keys) is
// answered by [Document.Evaluate] / [Document.Explain] for one document,
// and by [Authorize] for a key policy plus the caller's identity policies
// ([ParseIdentity]: same grammar, no Principal). [LockoutSafe] is the
// CreateKey/PutKeyPolicy lockout check. Grants are another layer;
// [MatchPrincipal] is what it reuses. Invariants:
//
//   - An explicit Deny that applies always wins: adding a statement that
//     denies everything to any document makes Explain and Authorize answer
//     Deny (FuzzEvaluate). Evaluation never panics.
//   - A statement applies when its Action/NotAction (IAM wildcards,
//     case-insensitive), Resource/NotResource (wildcards, case-sensitive),
//     Principal/NotPrincipal and every condition match. Values of one
//     condition key are ORed (NORed for negated operators); keys and
//     operators are ANDed.
//   - A statement whose Principal names an account (the root ARN or the bare
//     ID) allows a non-root caller of that account only by delegation:
//     Explain reports Delegated with Decision NotApplicable, never Allow, so
//     using Explain alone on a key policy fails closed. Authorize then asks
//     the identity policies, as AWS KMS does for "Enable IAM User
//     Permissions".
//   - Across accounts (the caller's account is not the key ARN's) Authorize
//     requires the identity policies to allow even when the key policy names
//     the caller. The account root user has no identity policies and counts
//     as allowed by them. A nil key policy means an operation on no key
//     (CreateKey, ListKeys): identity policies alone decide.
//   - A missing condition key (or one with no values) makes a condition
//     false, except: …IfExists is true; Null tests presence; a negated
//     operator (StringNotEquals, NotIpAddress, ArnNotLike…) is true;
//     ForAllValues is true and ForAnyValue false.
//   - Parse compiles each document once (lowered action patterns, tokenized
//     wildcards, parsed principals, condition values parsed for their
//     operator), so evaluation allocates nothing unless a condition reads
//     kms:EncryptionContextKeys, aws:CurrentTime or aws:EpochTime, or a
//     value holds a policy variable. A parsed Document is read-only and safe
//     for concurrent use; one built by hand is compiled on every call.
//
// Where evaluation differs from AWS, or AWS leaves the answer open:
//
//   - Only AWS principals match. Service, Federated and CanonicalUser
//     entries never name a kmsnode caller. Principal ARNs are compared as
//     text (AWS compares unique IDs, so a user deleted and re-created under
//     the same name is a new principal there and the same one here). An IAM
//     role ARN, with or without a path, matches its sts assumed-role
//     sessions.
//   - NotPrincipal: a Deny spares the caller only when both its own identity
//     (ARN, or its role) and its account are listed, as AWS documents; an
//     Allow (which AWS discourages) applies only when neither is listed.
//   - An operator without ForAnyValue/ForAllValues on a multi-valued key is
//     true when any request value matches, and a negated operator is its
//     exact negation. Policy values that do not parse for their operator (a
//     bad CIDR, date or number) never match; NaN and Inf are not numbers.
//   - ArnEquals and ArnLike both match the six ARN fields separately with
//     wildcards, as IAM documents; a pattern of fewer fields ("*") is
//     matched against the whole value. Dates take the W3C ISO 8601 forms or
//     epoch seconds, except that a 4-digit number is a year. BinaryEquals
//     compares base64-decoded bytes of both sides. IPv4-mapped IPv6
//     addresses count as IPv4.
//   - Condition key names, including the context key inside
//     kms:EncryptionContext:<key>, match case-insensitively. When a context
//     holds two keys that differ only by case, both values count.
//   - Keys derived from the request when its Context lacks them:
//     aws:PrincipalArn (the caller ARN as given, also for a role session,
//     where AWS gives the role ARN), aws:PrincipalAccount and
//     kms:CallerAccount, aws:username (IAM users only), aws:CurrentTime and
//     aws:EpochTime (from Request.Time), kms:EncryptionContext:<key> and
//     kms:EncryptionContextKeys (from Request.EncryptionContext). Every
//     other key is whatever the caller put in Context.
//   - Policy variables (${aws:username}, ${key, 'default'}, ${*} ${?} ${$})
//     are resolved in Resource/NotResource and condition values of
//     2012-10-17 documents; other versions take them literally. Substituted
//     text is literal, never a wildcard. A variable that cannot be resolved
//     (key absent or multi-valued, no default) voids its statement for the
//     request, whatever its Effect, as IAM does.
//   - LockoutSafe evaluates the new policy for kms:PutKeyPolicy with the
//     current call's condition keys, and counts a delegation to the caller's
//     account as safe (IAM can grant it). AWS does not document how it
//     treats conditions in this check; a condition the current call does not
//     meet fails it here.
//   - A hand-built Document (never produced by Parse) with an Effect other
//     than "Allow" is treated as Deny, and a condition operator Parse would
//     reject holds for a Deny and fails for an Allow: both fail closed.
package policy
