package policy

import "strings"

// Policy variables (${aws:username}, ${kms:CallerAccount, 'none'}, and the
// escapes ${*} ${?} ${$}) are supported in Resource, NotResource and
// condition values of 2012-10-17 documents, as in IAM; older or versionless
// documents take "${" literally. A variable is replaced by the value of the
// condition key it names (looked up like any condition key). Text that comes
// from a variable is literal: a '*' in a user's tag never becomes a wildcard.
//
// A variable whose key is absent or multi-valued and has no default cannot
// be resolved. IAM then treats the whole statement as invalid for the
// request, and so do we: the statement does not apply, whatever its Effect.

// piece is one part of a value that holds variables.
type piece struct {
	text   string // policy text (wildcards active), an escape's literal, or a default
	lit    bool   // text is literal: "${*}" or a variable's default
	isVar  bool
	key    condKey
	hasDef bool
}

// parseTemplate returns the pieces of s, or nil when s holds no variable.
func parseTemplate(s string) []piece {
	if !strings.Contains(s, "${") {
		return nil
	}
	var out []piece
	found := false
	text := func(t string) {
		if t == "" {
			return
		}
		if n := len(out); n > 0 && !out[n-1].lit && !out[n-1].isVar {
			out[n-1].text += t
			return
		}
		out = append(out, piece{text: t})
	}
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break
		}
		p, ok := parseVariable(s[i+2 : i+2+j])
		if !ok {
			text(s[:i+2]) // not a variable: keep "${" and look further on
			s = s[i+2:]
			continue
		}
		text(s[:i])
		out = append(out, p)
		found = true
		s = s[i+3+j:]
	}
	text(s)
	if !found {
		return nil
	}
	return out
}

// parseVariable parses the text between "${" and "}": a key name,
// optionally followed by ", 'default'", or one of the escapes * ? $.
func parseVariable(inner string) (piece, bool) {
	inner = strings.TrimSpace(inner)
	switch inner {
	case "*", "?", "$":
		return piece{text: inner, lit: true}, true
	}
	name, def, hasDef := strings.Cut(inner, ",")
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, " \t'${}") {
		return piece{}, false
	}
	p := piece{isVar: true, key: classifyKey(name)}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' {
			return piece{}, false
		}
		p.text, p.hasDef = def[1:len(def)-1], true
	}
	return p, true
}

// value resolves one variable piece; ok is false when it cannot be.
func (p *piece) value(r *Request, c *caller) (string, bool) {
	var buf [1]string
	if vals := r.lookup(&p.key, c, &buf); len(vals) == 1 {
		return vals[0], true
	}
	return p.text, p.hasDef
}

// resolveText joins the pieces into the final string, for operators that
// have no wildcards.
func resolveText(ps []piece, r *Request, c *caller) (string, bool) {
	var b strings.Builder
	for i := range ps {
		p := &ps[i]
		if !p.isVar {
			b.WriteString(p.text)
			continue
		}
		v, ok := p.value(r, c)
		if !ok {
			return "", false
		}
		b.WriteString(v)
	}
	return b.String(), true
}

// resolveTokens builds wildcard tokens: policy text is tokenized, variable
// values and escapes stay literal.
func resolveTokens(ps []piece, r *Request, c *caller) ([]token, bool) {
	toks := make([]token, 0, 2*len(ps))
	for i := range ps {
		p := &ps[i]
		switch {
		case p.isVar:
			v, ok := p.value(r, c)
			if !ok {
				return nil, false
			}
			if v != "" {
				toks = append(toks, token{kind: tokLit, lit: v})
			}
		case p.lit:
			toks = append(toks, token{kind: tokLit, lit: p.text})
		default:
			toks = tokenize(p.text, false, toks)
		}
	}
	return mergeLits(toks), true
}

// mergeLits joins adjacent literal tokens and stars so that patternOf can still pick a
// fast path.
func mergeLits(toks []token) []token {
	out := toks[:0]
	for _, t := range toks {
		if n := len(out); n > 0 && t.kind == out[n-1].kind {
			switch t.kind {
			case tokLit:
				out[n-1].lit += t.lit
				continue
			case tokStar:
				continue
			}
		}
		out = append(out, t)
	}
	return out
}
