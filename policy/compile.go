package policy

// program is a Document compiled for evaluation: principals parsed, action
// patterns lowered and tokenized, resource patterns tokenized, conditions
// flattened and their values parsed for their operators. Parse builds it
// once, so evaluating allocates nothing for policies without conditions.
type program struct {
	stmts []cstmt
}

type cstmt struct {
	deny         bool
	sid          string
	principal    *principalSet // nil: no Principal element (an identity policy)
	notPrincipal bool
	actions      []pattern // lower case, matched case-insensitively
	notAction    bool
	resources    []resPattern // case-sensitive
	notResource  bool
	conds        []ccond
	badCond      bool // a hand-built Condition with an unknown operator
}

// resPattern is a Resource or NotResource entry; tmpl is set when it holds
// policy variables and must be resolved per request.
type resPattern struct {
	pat  pattern
	tmpl []piece
}

// program returns the form Parse compiled. A Document built by hand (not by
// Parse or ParseIdentity) is compiled on every call: correct, only slower.
func (d *Document) program() *program {
	if d.prog != nil {
		return d.prog
	}
	return compile(d)
}

func compile(d *Document) *program {
	vars := d.Version == Version2012 // policy variables came with 2012-10-17
	p := &program{stmts: make([]cstmt, len(d.Statements))}
	for i := range d.Statements {
		st := &d.Statements[i]
		// Anything but "Allow" denies: only a hand-built Document can hold
		// another Effect, and failing closed is the safe reading.
		cs := cstmt{deny: st.Effect != EffectAllow, sid: st.Sid}
		switch {
		case st.Principal != nil:
			cs.principal = compilePrincipals(st.Principal)
		case st.NotPrincipal != nil:
			cs.principal, cs.notPrincipal = compilePrincipals(st.NotPrincipal), true
		}
		actions := st.Action
		if actions == nil {
			actions, cs.notAction = st.NotAction, true
		}
		for _, a := range actions {
			cs.actions = append(cs.actions, compilePattern(a, true))
		}
		resources := st.Resource
		if resources == nil {
			resources, cs.notResource = st.NotResource, true
		}
		for _, r := range resources {
			rp := resPattern{pat: compilePattern(r, false)}
			if vars {
				rp.tmpl = parseTemplate(r)
			}
			cs.resources = append(cs.resources, rp)
		}
		if st.Condition != nil {
			var ok bool
			// An unknown operator: hold for a Deny, fail for an Allow.
			cs.conds, ok = compileConditions(st.Condition, vars)
			cs.badCond = !ok
		}
		p.stmts[i] = cs
	}
	return p
}

// match reports whether the statement applies to the request, and how its
// principal matched. Checks run cheapest and most selective first.
func (st *cstmt) match(r *Request, c *caller) matchKind {
	if !st.matchAction(r.Action) || !st.matchResource(r, c) {
		return matchNone
	}
	m := matchDirect
	if st.principal != nil {
		if st.notPrincipal {
			m = st.principal.matchNot(c, st.deny)
		} else {
			m = st.principal.match(c)
		}
		if m == matchNone {
			return matchNone
		}
	}
	if st.badCond && !st.deny {
		return matchNone
	}
	for i := range st.conds {
		if holds, valid := st.conds[i].eval(r, c); !holds || !valid {
			return matchNone
		}
	}
	return m
}

func (st *cstmt) matchAction(action string) bool {
	for i := range st.actions {
		if st.actions[i].match(action) {
			return !st.notAction
		}
	}
	return st.notAction
}

// matchResource also voids the statement when a variable in any of its
// resource patterns cannot be resolved, whichever pattern would match.
func (st *cstmt) matchResource(r *Request, c *caller) bool {
	matched := false
	for i := range st.resources {
		rp := &st.resources[i]
		if rp.tmpl == nil {
			matched = matched || rp.pat.match(r.Resource)
			continue
		}
		toks, ok := resolveTokens(rp.tmpl, r, c)
		if !ok {
			return false
		}
		p := patternOf(toks, false)
		matched = matched || p.match(r.Resource)
	}
	return matched != st.notResource
}
