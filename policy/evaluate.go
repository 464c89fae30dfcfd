package policy

import "strconv"

// Decision is the answer of one policy, or of all of them, to a [Request].
type Decision uint8

const (
	// NotApplicable: nothing allows the request; IAM's implicit deny.
	NotApplicable Decision = iota
	// Allow: a statement allows the request and none denies it.
	Allow
	// Deny: a Deny statement applies; nothing can override it.
	Deny
)

func (d Decision) String() string {
	switch d {
	case NotApplicable:
		return "NotApplicable"
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return "Decision(" + strconv.Itoa(int(d)) + ")"
}

// Result is a [Decision] with the statement that decided it, for the audit
// log.
type Result struct {
	Decision Decision
	// Statement is the index of the deciding statement (the first Deny that
	// applies, else the first Allow, else the first delegating statement),
	// -1 when none applies; Sid is its Sid.
	Statement int
	Sid       string
	// Delegated is set when no statement allows the caller itself but one
	// allows its account, that is names the account root
	// (arn:aws:iam::<id>:root or "<id>") for a caller who is not the root
	// user. Decision is then NotApplicable: the document hands the decision
	// to the caller's identity policies, which [Authorize] consults.
	Delegated bool
}

// Evaluate answers the request from this document alone; see [Document.Explain].
func (d *Document) Evaluate(req *Request) Decision {
	return d.Explain(req).Decision
}

// Explain evaluates the request against the document's statements:
//
//   - a statement applies when its action, resource, principal and every
//     condition match;
//   - any Deny that applies wins;
//   - otherwise an Allow that names the caller (its ARN, its role for an
//     assumed-role session, "*", or no Principal element at all, as in an
//     identity policy) allows;
//   - an Allow that names only the caller's account does not: it sets
//     Delegated and leaves the Decision NotApplicable.
//
// A nil Document allows nothing. Explain never modifies the document or the
// request, and may be called concurrently.
func (d *Document) Explain(req *Request) Result {
	if d == nil {
		return Result{Statement: -1}
	}
	c := newCaller(req)
	return d.program().eval(req, &c)
}

func (p *program) eval(r *Request, c *caller) Result {
	res := Result{Statement: -1}
	for i := range p.stmts {
		st := &p.stmts[i]
		if !st.deny && res.Decision == Allow {
			continue // once allowed, only a Deny can change the answer
		}
		switch m := st.match(r, c); {
		case m == matchNone:
		case st.deny:
			return Result{Decision: Deny, Statement: i, Sid: st.sid}
		case m == matchDirect:
			res = Result{Decision: Allow, Statement: i, Sid: st.sid}
		case !res.Delegated:
			res = Result{Statement: i, Sid: st.sid, Delegated: true}
		}
	}
	return res
}

// Authorize decides a request as AWS KMS does from a key policy and the
// caller's identity (IAM) policies. Grants are checked elsewhere: a caller
// denied here may still be allowed by a grant, unless the answer is Deny.
//
//   - An explicit Deny in the key policy or any identity policy wins.
//   - A key policy that allows the caller directly allows, as long as the
//     caller is in the key's account (the account field of req.Resource).
//     Across accounts IAM requires both sides: the caller's identity
//     policies must allow too.
//   - A key policy that allows the caller's account (Result.Delegated)
//     allows when the caller's identity policies do. This is the default
//     key policy's "Enable IAM User Permissions".
//   - The account root user has no identity policies: it counts as allowed
//     by them, so a key policy naming its account is enough.
//   - keyPolicy nil means an operation on no key (CreateKey, ListKeys,
//     GenerateRandom): identity policies alone decide.
//   - Anything else is NotApplicable (implicit deny).
func Authorize(keyPolicy *Document, identityPolicies []*Document, req *Request) Decision {
	c := newCaller(req)
	var key Result
	if keyPolicy != nil {
		if key = keyPolicy.program().eval(req, &c); key.Decision == Deny {
			return Deny
		}
	}
	identity := c.root
	for _, d := range identityPolicies {
		if d == nil {
			continue
		}
		switch d.program().eval(req, &c).Decision {
		case Deny:
			return Deny
		case Allow:
			identity = true
		}
	}
	switch {
	case keyPolicy == nil:
		if identity {
			return Allow
		}
	case key.Decision == Allow:
		if identity || !crossAccount(req, &c) {
			return Allow
		}
	case key.Delegated:
		if identity {
			return Allow
		}
	}
	return NotApplicable
}

// crossAccount reports whether the resource is a key ARN of another account
// than the caller's.
func crossAccount(r *Request, c *caller) bool {
	_, _, acct, _, ok := splitARN(r.Resource)
	return ok && acct != c.account
}

// PutKeyPolicyAction is the action the lockout safety check asks about.
const PutKeyPolicyAction = "kms:PutKeyPolicy"

// LockoutSafe is AWS KMS's policy lockout safety check, run by CreateKey
// and PutKeyPolicy unless BypassPolicyLockoutSafetyCheck is set: the new
// policy must allow the principal making the request to make a later
// PutKeyPolicy call on the key. req describes that caller (Principal,
// Account, Resource = the key ARN, and the context of the current call);
// its Action is ignored and taken as kms:PutKeyPolicy.
//
// The check passes when doc allows the caller directly, or allows its
// account (the caller's IAM policies can then grant the permission: AWS
// assumes they may, and so do we). A Deny that applies, or conditions the
// given context cannot meet, fail it. AWS's other CreateKey rule, that every
// principal named in the policy exists, needs the identity store and is the
// caller's job.
func LockoutSafe(doc *Document, req *Request) bool {
	r := *req
	r.Action = PutKeyPolicyAction
	res := doc.Explain(&r)
	return res.Decision == Allow || res.Delegated
}
