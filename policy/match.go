package policy

import (
	"strings"
	"unicode/utf8"
)

// A wildcard pattern is compiled once, at Parse time, into tokens: a run of
// literal text, "*" (any run of characters, also empty) or "?" (exactly one
// character). Keeping the literal runs whole lets the matcher compare them
// with one string operation instead of byte by byte, and lets text that came
// from a policy variable stay literal even if it holds '*' or '?'.
type tokKind uint8

const (
	tokLit tokKind = iota
	tokStar
	tokOne
)

type token struct {
	kind tokKind
	lit  string // tokLit only
}

// patKind selects a fast path for the shapes key policies use most: "*",
// an exact name ("kms:Encrypt") and a trailing star ("kms:Get*").
type patKind uint8

const (
	patNone   patKind = iota // the zero pattern matches nothing
	patAny                   // "*"
	patExact                 // no wildcard
	patPrefix                // literal then one trailing "*"
	patGlob                  // anything else
)

type pattern struct {
	kind patKind
	lit  string  // patExact: the text; patPrefix: the text before "*"
	toks []token // patGlob
	fold bool    // lit and toks are ASCII lower case; match case-insensitively
}

// tokenize splits a policy pattern into tokens; consecutive stars collapse.
// With fold, literal text is lowered (ASCII) so that matching need only
// lower the request side.
func tokenize(s string, fold bool, dst []token) []token {
	start := 0
	flush := func(end int) {
		if end > start {
			lit := s[start:end]
			if fold {
				lit = lowerASCII(lit)
			}
			dst = append(dst, token{kind: tokLit, lit: lit})
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*':
			flush(i)
			if n := len(dst); n == 0 || dst[n-1].kind != tokStar {
				dst = append(dst, token{kind: tokStar})
			}
			start = i + 1
		case '?':
			flush(i)
			dst = append(dst, token{kind: tokOne})
			start = i + 1
		}
	}
	flush(len(s))
	return dst
}

func compilePattern(s string, fold bool) pattern {
	return patternOf(tokenize(s, fold, nil), fold)
}

// patternOf classifies tokens into one of the fast paths.
func patternOf(toks []token, fold bool) pattern {
	p := pattern{fold: fold}
	switch {
	case len(toks) == 0:
		p.kind = patExact // the empty pattern matches only ""
	case len(toks) == 1 && toks[0].kind == tokStar:
		p.kind = patAny
	case len(toks) == 1 && toks[0].kind == tokLit:
		p.kind, p.lit = patExact, toks[0].lit
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokStar:
		p.kind, p.lit = patPrefix, toks[0].lit
	default:
		p.kind, p.toks = patGlob, toks
	}
	return p
}

func (p *pattern) match(s string) bool {
	switch p.kind {
	case patAny:
		return true
	case patExact:
		return len(s) == len(p.lit) && hasPrefix(s, p.lit, p.fold)
	case patPrefix:
		return hasPrefix(s, p.lit, p.fold)
	case patGlob:
		return globMatch(p.toks, s, p.fold)
	}
	return false
}

// globMatch reports whether s matches the tokens. It remembers only the
// last star and lets it absorb one more character on each mismatch; that is
// correct because every other token matches a fixed number of characters.
// Worst case O(len(toks)·len(s)), never exponential.
func globMatch(toks []token, s string, fold bool) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			switch t := toks[ti]; t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokOne:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case tokLit:
				if hasPrefix(s[si:], t.lit, fold) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		ti, si = starTi+1, starSi
	}
}

// hasPrefix compares s's prefix with lit; with fold, lit is already lower
// case and s is lowered byte by byte (ASCII only: action names are ASCII).
func hasPrefix(s, lit string, fold bool) bool {
	if len(s) < len(lit) {
		return false
	}
	if !fold {
		return s[:len(lit)] == lit
	}
	for i := 0; i < len(lit); i++ {
		if lowerByte(s[i]) != lit[i] {
			return false
		}
	}
	return true
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerByte(b[j])
			}
			return string(b)
		}
	}
	return s
}

// arnPattern matches an ARN field by field, as IAM's Arn* operators do: the
// six colon-separated fields are compared separately, so a wildcard in the
// region never spans into the account. The sixth field (the resource) keeps
// any further colons. A pattern without six fields ("*") is matched against
// the whole value instead.
type arnPattern struct {
	fields [6]pattern
	split  bool
	whole  pattern
}

func compileARNPattern(toks []token) arnPattern {
	var ap arnPattern
	var fields [6][]token
	n := 0
	for _, t := range toks {
		for t.kind == tokLit && n < 5 {
			i := strings.IndexByte(t.lit, ':')
			if i < 0 {
				break
			}
			if i > 0 {
				fields[n] = append(fields[n], token{kind: tokLit, lit: t.lit[:i]})
			}
			n++
			t.lit = t.lit[i+1:]
		}
		if t.kind != tokLit || t.lit != "" {
			fields[n] = append(fields[n], t)
		}
	}
	if n < 5 {
		ap.whole = patternOf(toks, false)
		return ap
	}
	ap.split = true
	for i := range fields {
		ap.fields[i] = patternOf(fields[i], false)
	}
	return ap
}

func (ap *arnPattern) match(v string) bool {
	if !ap.split {
		return ap.whole.match(v)
	}
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(v, ':')
		if j < 0 || !ap.fields[i].match(v[:j]) {
			return false
		}
		v = v[j+1:]
	}
	return ap.fields[5].match(v)
}

// splitARN returns the fields of arn:partition:service:region:account:resource
// without allocating; ok is false if s is not an ARN of six fields.
func splitARN(s string) (partition, service, account, resource string, ok bool) {
	rest, found := strings.CutPrefix(s, "arn:")
	if !found {
		return "", "", "", "", false
	}
	var f [4]string
	for i := range f {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return "", "", "", "", false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	return f[0], f[1], f[3], rest, true
}

// caller is the request's principal, picked apart once per evaluation.
type caller struct {
	arn       string
	partition string
	account   string
	root      bool   // arn:<p>:iam::<account>:root
	user      string // IAM user name, for aws:username
	role      string // role name of an sts assumed-role session
}

func newCaller(r *Request) caller {
	c := caller{arn: r.Principal, account: r.Account}
	part, svc, acct, res, ok := splitARN(r.Principal)
	if !ok {
		return c
	}
	c.partition = part
	if c.account == "" {
		c.account = acct
	}
	switch {
	case svc == "iam" && res == "root":
		c.root = acct == c.account
	case svc == "iam" && strings.HasPrefix(res, "user/"):
		c.user = res[strings.LastIndexByte(res, '/')+1:]
	case svc == "sts" && strings.HasPrefix(res, "assumed-role/"):
		name, _, ok := strings.Cut(res[len("assumed-role/"):], "/")
		if ok && name != "" {
			c.role = name
		}
	}
	return c
}

// principalSet is a compiled Principal or NotPrincipal element. Only AWS
// principals can match: kmsnode's callers are IAM-style identities, so
// Service, Federated and CanonicalUser entries never name one of them.
type principalSet struct {
	any      bool
	accounts []accountPrincipal // 12-digit IDs and arn:<p>:iam::<id>:root
	arns     []string           // every other principal ARN, compared exactly
	roles    []rolePrincipal    // the IAM role ARNs among arns
}

type accountPrincipal struct{ partition, account string } // partition "" for a bare ID

type rolePrincipal struct{ partition, account, name string }

func compilePrincipals(p *Principals) *principalSet {
	ps := &principalSet{any: p.Any}
	for _, s := range p.AWS {
		if s == "*" {
			ps.any = true
			continue
		}
		if isAccountID(s) {
			ps.accounts = append(ps.accounts, accountPrincipal{account: s})
			continue
		}
		part, svc, acct, res, _ := splitARN(s) // Parse checked the shape
		switch {
		case svc == "iam" && res == "root":
			ps.accounts = append(ps.accounts, accountPrincipal{part, acct})
		case svc == "iam" && strings.HasPrefix(res, "role/"):
			// A role ARN may carry a path (role/service-role/Name); its
			// sessions name only the role: assumed-role/Name/session.
			ps.roles = append(ps.roles, rolePrincipal{part, acct, res[strings.LastIndexByte(res, '/')+1:]})
			ps.arns = append(ps.arns, s)
		default:
			ps.arns = append(ps.arns, s)
		}
	}
	return ps
}

// matchKind says how a statement's principal matched the caller.
type matchKind uint8

const (
	matchNone    matchKind = iota
	matchAccount           // only through the caller's account: Principal names the account root
	matchDirect            // the caller itself (or "*", or no Principal element at all)
)

// lists reports whether the caller's own identity is named: its ARN, the
// role of its session, or (for the root user) its account.
func (ps *principalSet) listsIdentity(c *caller) bool {
	if ps.any {
		return true
	}
	for _, a := range ps.arns {
		if a == c.arn {
			return true
		}
	}
	if c.role != "" {
		for _, r := range ps.roles {
			if r.name == c.role && r.account == c.account && r.partition == c.partition {
				return true
			}
		}
	}
	return c.root && ps.listsAccount(c)
}

func (ps *principalSet) listsAccount(c *caller) bool {
	if ps.any {
		return true
	}
	for _, a := range ps.accounts {
		if a.account == c.account && (a.partition == "" || a.partition == c.partition) {
			return true
		}
	}
	return false
}

func (ps *principalSet) match(c *caller) matchKind {
	if ps.listsIdentity(c) {
		return matchDirect
	}
	if ps.listsAccount(c) {
		return matchAccount
	}
	return matchNone
}

// matchNot applies NotPrincipal. AWS evaluates a NotPrincipal statement
// once for each identity the caller has (its ARN, and its account), so a
// Deny spares the caller only when every one of them is listed: the AWS
// documentation's advice to list the account ARN beside the user. For an
// Allow the fail-closed reading is the mirror image: it applies only when
// none of them is listed.
func (ps *principalSet) matchNot(c *caller, deny bool) matchKind {
	id, acct := ps.listsIdentity(c), ps.listsAccount(c)
	if deny && !(id && acct) || !deny && !id && !acct {
		return matchDirect
	}
	return matchNone
}

// MatchPrincipal reports whether the caller with ARN callerARN is the
// principal named: the same ARN, or a session of the named IAM role
// (arn:aws:sts::<id>:assumed-role/Name/session for arn:aws:iam::<id>:role/
// [path/]Name). A grant check uses it for grantee and retiring principals.
// An account root names only the root user here, never the whole account.
func MatchPrincipal(named, callerARN string) bool {
	if named == callerARN {
		return named != ""
	}
	if checkAWSPrincipal(named) != nil || isAccountID(named) {
		return false
	}
	c := newCaller(&Request{Principal: callerARN})
	ps := compilePrincipals(&Principals{AWS: []string{named}})
	return c.role != "" && ps.listsIdentity(&c)
}
