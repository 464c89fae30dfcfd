package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// Parse parses and validates a policy document as AWS does for KMS key
// policies. Every failure wraps [ErrMalformed]; see the package doc for the
// rules and where they differ from AWS.
func Parse(doc string) (*Document, error) {
	return parse(doc, false)
}

// ParseIdentity parses an identity (IAM) policy: the same grammar, except
// that a statement must not have Principal or NotPrincipal (IAM rejects
// them: the policy applies to the identity it is attached to).
func ParseIdentity(doc string) (*Document, error) {
	return parse(doc, true)
}

func parse(doc string, identity bool) (*Document, error) {
	if err := checkText(doc); err != nil {
		return nil, err
	}
	data := []byte(doc)
	if first(data) != '{' {
		return nil, malformed("the document must be a JSON object")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, malformed("invalid JSON: %v", err)
	}
	d := &Document{}
	var stmts json.RawMessage
	for _, name := range sortedKeys(top) {
		raw := top[name]
		var err error
		switch name {
		case "Version":
			d.Version, err = decodeString(raw)
			if err == nil && d.Version != Version2012 && d.Version != Version2008 {
				err = fmt.Errorf("must be %q or %q", Version2012, Version2008)
			}
		case "Id":
			d.ID, err = decodeString(raw)
		case "Statement":
			stmts = raw
		default:
			return nil, malformed("unknown top-level element %q", name)
		}
		if err != nil {
			return nil, malformed("%s: %v", name, err)
		}
	}
	if stmts == nil {
		return nil, malformed("Statement is required")
	}
	var err error
	if d.Statements, err = parseStatements(stmts, identity); err != nil {
		return nil, err
	}
	d.prog = compile(d)
	return d, nil
}

// checkText applies the PolicyType constraints of the KMS model: 1..MaxSize
// characters, each a tab, LF, CR or in U+0020..U+00FF.
func checkText(doc string) error {
	if doc == "" {
		return malformed("the document is empty")
	}
	if len(doc) > 2*MaxSize { // every allowed character is at most 2 bytes of UTF-8
		return fmt.Errorf("%w: got %d bytes", ErrTooLarge, len(doc))
	}
	n := 0
	for i, r := range doc {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(doc[i:]); size == 1 {
				return malformed("invalid UTF-8 at byte %d", i)
			}
		}
		if r > 0xFF || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') {
			return malformed("character %U at byte %d is not allowed (only tab, LF, CR and U+0020..U+00FF)", r, i)
		}
		n++
	}
	if n > MaxSize {
		return fmt.Errorf("%w: got %d", ErrTooLarge, n)
	}
	return nil
}

func parseStatements(raw json.RawMessage, identity bool) ([]Statement, error) {
	var items []json.RawMessage
	switch first(raw) {
	case '{':
		items = []json.RawMessage{raw}
	case '[':
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, malformed("Statement: %v", err)
		}
		if len(items) == 0 {
			return nil, malformed("Statement must not be an empty array")
		}
	default:
		return nil, malformed("Statement must be an object or an array of objects")
	}
	out := make([]Statement, 0, len(items))
	sids := make(map[string]int, len(items))
	for i, item := range items {
		st, err := parseStatement(item, identity)
		if err != nil {
			return nil, malformed("Statement[%d]: %v", i, err)
		}
		if st.Sid != "" {
			if j, dup := sids[st.Sid]; dup {
				return nil, malformed("Statement[%d]: Sid %q already used by Statement[%d]", i, st.Sid, j)
			}
			sids[st.Sid] = i
		}
		out = append(out, st)
	}
	return out, nil
}

// parseStatement returns a plain error; parseStatements wraps it with the
// statement index and ErrMalformed.
func parseStatement(raw json.RawMessage, identity bool) (Statement, error) {
	var st Statement
	if first(raw) != '{' {
		return st, fmt.Errorf("must be an object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return st, err
	}
	for _, name := range sortedKeys(fields) {
		v := fields[name]
		var err error
		switch name {
		case "Sid":
			if st.Sid, err = decodeString(v); err == nil {
				err = checkSid(st.Sid)
			}
		case "Effect":
			if st.Effect, err = decodeString(v); err == nil && st.Effect != EffectAllow && st.Effect != EffectDeny {
				err = fmt.Errorf("must be %q or %q", EffectAllow, EffectDeny)
			}
		case "Principal":
			st.Principal, err = parsePrincipals(v)
		case "NotPrincipal":
			st.NotPrincipal, err = parsePrincipals(v)
		case "Action":
			st.Action, err = parseList(v, checkAction)
		case "NotAction":
			st.NotAction, err = parseList(v, checkAction)
		case "Resource":
			st.Resource, err = parseList(v, checkResource)
		case "NotResource":
			st.NotResource, err = parseList(v, checkResource)
		case "Condition":
			st.Condition, err = parseCondition(v)
		default:
			return st, fmt.Errorf("unknown element %q", name)
		}
		if err != nil {
			return st, fmt.Errorf("%s: %w", name, err)
		}
	}
	if st.Effect == "" {
		return st, fmt.Errorf("Effect is required")
	}
	if identity {
		if st.Principal != nil || st.NotPrincipal != nil {
			return st, fmt.Errorf("an identity policy must not have Principal or NotPrincipal")
		}
	} else if err := exactlyOne("Principal", st.Principal != nil, st.NotPrincipal != nil); err != nil {
		return st, err
	}
	if err := exactlyOne("Action", st.Action != nil, st.NotAction != nil); err != nil {
		return st, err
	}
	if err := exactlyOne("Resource", st.Resource != nil, st.NotResource != nil); err != nil {
		return st, err
	}
	return st, nil
}

func exactlyOne(name string, has, hasNot bool) error {
	switch {
	case has && hasNot:
		return fmt.Errorf("%s and Not%s are mutually exclusive", name, name)
	case !has && !hasNot:
		return fmt.Errorf("one of %s or Not%s is required", name, name)
	}
	return nil
}

func parsePrincipals(raw json.RawMessage) (*Principals, error) {
	switch first(raw) {
	case '"':
		s, err := decodeString(raw)
		if err != nil {
			return nil, err
		}
		if s != "*" {
			return nil, fmt.Errorf("a string principal must be \"*\"; use {\"AWS\": %q}", s)
		}
		return &Principals{Any: true}, nil
	case '{':
	default:
		return nil, fmt.Errorf("must be \"*\" or an object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("must name at least one principal")
	}
	p := &Principals{}
	for _, name := range sortedKeys(fields) {
		v := fields[name]
		var err error
		switch name {
		case "AWS":
			p.AWS, err = parseList(v, checkAWSPrincipal)
		case "Service":
			p.Service, err = parseList(v, checkToken)
		case "Federated":
			p.Federated, err = parseList(v, checkToken)
		case "CanonicalUser":
			p.CanonicalUser, err = parseList(v, checkToken)
		default:
			return nil, fmt.Errorf("unknown principal type %q", name)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return p, nil
}

// parseList decodes a string or a non-empty array of strings and checks
// each element.
func parseList(raw json.RawMessage, check func(string) error) ([]string, error) {
	if first(raw) == '"' {
		s, err := decodeString(raw)
		if err == nil {
			err = check(s)
		}
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	if first(raw) != '[' {
		return nil, fmt.Errorf("must be a string or an array of strings")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("must not be an empty array")
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, err := decodeString(item)
		if err == nil {
			err = check(s)
		}
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

func parseCondition(raw json.RawMessage) (map[string]map[string][]string, error) {
	if first(raw) != '{' {
		return nil, fmt.Errorf("must be an object")
	}
	var ops map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, err
	}
	out := make(map[string]map[string][]string, len(ops))
	for _, op := range sortedKeys(ops) {
		block := ops[op]
		if _, ok := parseOperator(op); !ok {
			return nil, fmt.Errorf("unknown condition operator %q", op)
		}
		if first(block) != '{' {
			return nil, fmt.Errorf("%s: must be an object of condition keys", op)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(block, &keys); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		m := make(map[string][]string, len(keys))
		for _, key := range sortedKeys(keys) {
			v := keys[key]
			if err := checkConditionKey(key); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			vals, err := conditionValues(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", op, key, err)
			}
			m[key] = vals
		}
		out[op] = m
	}
	return out, nil
}

// conditionValues decodes a scalar or an array of scalars (string, boolean
// or number) into their text.
func conditionValues(raw json.RawMessage) ([]string, error) {
	if first(raw) != '[' {
		s, err := conditionScalar(raw)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, item := range items {
		s, err := conditionScalar(item)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = s
	}
	return out, nil
}

func conditionScalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch c := first(raw); {
	case c == '"':
		return decodeString(raw)
	case c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'):
		// encoding/json has already validated the literal; keep its text.
		return string(raw), nil
	}
	return "", fmt.Errorf("values must be strings, booleans or numbers")
}

// decodeString decodes a JSON string, refusing null and other types (which
// json.Unmarshal into a string would silently accept or misreport).
func decodeString(raw json.RawMessage) (string, error) {
	if first(raw) != '"' {
		return "", fmt.Errorf("must be a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// sortedKeys makes error messages deterministic when a document has several
// faults.
func sortedKeys(m map[string]json.RawMessage) []string {
	return slices.Sorted(maps.Keys(m))
}

// first returns the first non-space byte of b, or 0.
func first(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
