package policy

import (
	"bytes"
	"encoding/base64"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// opKind is a positive condition operator; the negated ones (StringNotEquals,
// NotIpAddress…) are their positive counterpart with ccond.negate set, which
// is exactly how IAM defines them: a negated operator is true for a request
// value that matches none of the policy values.
type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opARN // ArnEquals and ArnLike: IAM matches both field by field, with wildcards
	opNull
)

type opInfo struct {
	op     opKind
	negate bool
}

// operators maps every base operator that parseOperator accepts to its
// evaluation; TestEveryOperatorEvaluates keeps the two lists in step.
var operators = map[string]opInfo{
	"StringEquals": {opStringEquals, false}, "StringNotEquals": {opStringEquals, true},
	"StringEqualsIgnoreCase": {opStringEqualsIgnoreCase, false}, "StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike": {opStringLike, false}, "StringNotLike": {opStringLike, true},
	"NumericEquals": {opNumericEquals, false}, "NumericNotEquals": {opNumericEquals, true},
	"NumericLessThan": {opNumericLessThan, false}, "NumericLessThanEquals": {opNumericLessThanEquals, false},
	"NumericGreaterThan": {opNumericGreaterThan, false}, "NumericGreaterThanEquals": {opNumericGreaterThanEquals, false},
	"DateEquals": {opDateEquals, false}, "DateNotEquals": {opDateEquals, true},
	"DateLessThan": {opDateLessThan, false}, "DateLessThanEquals": {opDateLessThanEquals, false},
	"DateGreaterThan": {opDateGreaterThan, false}, "DateGreaterThanEquals": {opDateGreaterThanEquals, false},
	"Bool": {opBool, false}, "BinaryEquals": {opBinaryEquals, false},
	"IpAddress": {opIPAddress, false}, "NotIpAddress": {opIPAddress, true},
	"ArnEquals": {opARN, false}, "ArnLike": {opARN, false},
	"ArnNotEquals": {opARN, true}, "ArnNotLike": {opARN, true},
	"Null": {opNull, false},
}

type setKind uint8

const (
	setNone setKind = iota
	setAny          // ForAnyValue:
	setAll          // ForAllValues:
)

// ccond is one compiled (operator, key, values) triple of a Condition.
type ccond struct {
	op       opKind
	negate   bool
	set      setKind
	ifExists bool
	key      condKey
	vals     []cval
	vars     bool // some value holds a policy variable
}

// cval is one policy value, parsed for its operator at Parse time. A value
// that does not parse (a CIDR that is not one) never matches, so under a
// negated operator it never excludes anything.
type cval struct {
	text string
	tmpl []piece // policy variables, when the document allows them
	ok   bool
	pat  pattern    // StringLike
	arn  arnPattern // Arn*
	num  float64
	when time.Time
	pfx  netip.Prefix
	bin  []byte
	b    bool
}

// compileConditions flattens the Condition map into a slice in a fixed
// order (operator, then key), so evaluation never iterates a map.
func compileConditions(m map[string]map[string][]string, vars bool) ([]ccond, bool) {
	var out []ccond
	for _, name := range slices.Sorted(maps.Keys(m)) {
		op, ok := parseOperator(name)
		info, known := operators[op.base]
		if !ok || !known {
			return nil, false // only a hand-built Document can get here
		}
		keys := m[name]
		for _, key := range slices.Sorted(maps.Keys(keys)) {
			cc := ccond{op: info.op, negate: info.negate, ifExists: op.ifExists, key: classifyKey(key)}
			switch op.set {
			case "ForAnyValue":
				cc.set = setAny
			case "ForAllValues":
				cc.set = setAll
			}
			for _, text := range keys[key] {
				cv := compileValue(cc.op, text)
				if vars && cc.op != opNull {
					if cv.tmpl = parseTemplate(text); cv.tmpl != nil {
						cc.vars = true
					}
				}
				cc.vals = append(cc.vals, cv)
			}
			out = append(out, cc)
		}
	}
	return out, true
}

func compileValue(op opKind, text string) cval {
	cv := cval{text: text, ok: true}
	var err error
	switch op {
	case opStringLike:
		cv.pat = compilePattern(text, false)
	case opARN:
		cv.arn = compileARNPattern(tokenize(text, false, nil))
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		cv.num, cv.ok = parseNumber(text)
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		cv.when, cv.ok = parseDate(text)
	case opBool, opNull:
		cv.b, cv.ok = parseBool(text)
	case opBinaryEquals:
		cv.bin, err = base64.StdEncoding.DecodeString(text)
		cv.ok = err == nil
	case opIPAddress:
		cv.pfx, cv.ok = parsePrefix(text)
	}
	return cv
}

// eval reports whether the condition holds. valid is false when a policy
// variable in its values cannot be resolved, which voids the statement.
func (cc *ccond) eval(r *Request, c *caller) (holds, valid bool) {
	var buf [1]string
	vals := r.lookup(&cc.key, c, &buf)
	if cc.op == opNull {
		// Null: "true" asks for the key to be absent, "false" present.
		for i := range cc.vals {
			if cv := &cc.vals[i]; cv.ok && cv.b == (len(vals) == 0) {
				return true, true
			}
		}
		return false, true
	}
	if len(vals) == 0 {
		switch {
		case cc.ifExists:
			return true, true
		case cc.set == setAll: // every one of no values matches
			return true, true
		case cc.set == setAny: // no value matches
			return false, true
		}
		// A plain operator on an absent key: the positive ones are false,
		// the negated ones true (nothing equals the excluded values).
		return cc.negate, true
	}
	pvals := cc.vals
	if cc.vars {
		var ok bool
		if pvals, ok = cc.resolve(r, c); !ok {
			return false, false
		}
	}
	switch cc.set {
	case setAny:
		for _, v := range vals {
			if cc.matchAny(pvals, v) != cc.negate {
				return true, true
			}
		}
		return false, true
	case setAll:
		for _, v := range vals {
			if cc.matchAny(pvals, v) == cc.negate {
				return false, true
			}
		}
		return true, true
	}
	// No set qualifier on a multi-valued key: true when any request value
	// matches (negated: when none does). IAM leaves this case to "use a set
	// operator"; this is the reading that makes StringNotEquals the exact
	// negation of StringEquals.
	for _, v := range vals {
		if cc.matchAny(pvals, v) {
			return !cc.negate, true
		}
	}
	return cc.negate, true
}

// resolve substitutes policy variables into the values.
func (cc *ccond) resolve(r *Request, c *caller) ([]cval, bool) {
	out := make([]cval, len(cc.vals))
	for i := range cc.vals {
		cv := &cc.vals[i]
		if cv.tmpl == nil {
			out[i] = *cv
			continue
		}
		switch cc.op {
		case opStringLike, opARN:
			toks, ok := resolveTokens(cv.tmpl, r, c)
			if !ok {
				return nil, false
			}
			out[i] = cval{ok: true, pat: patternOf(toks, false), arn: compileARNPattern(toks)}
		default:
			text, ok := resolveText(cv.tmpl, r, c)
			if !ok {
				return nil, false
			}
			out[i] = compileValue(cc.op, text)
		}
	}
	return out, true
}

// matchAny reports whether request value v matches one of the policy
// values under the positive operator.
func (cc *ccond) matchAny(pvals []cval, v string) bool {
	switch cc.op {
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, ok := parseNumber(v)
		if !ok {
			return false
		}
		for i := range pvals {
			if pvals[i].ok && compares(cc.op-opNumericEquals, cmpFloat(n, pvals[i].num)) {
				return true
			}
		}
		return false
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(v)
		if !ok {
			return false
		}
		for i := range pvals {
			if pvals[i].ok && compares(cc.op-opDateEquals, t.Compare(pvals[i].when)) {
				return true
			}
		}
		return false
	case opBool:
		b, ok := parseBool(v)
		for i := range pvals {
			if ok && pvals[i].ok && pvals[i].b == b {
				return true
			}
		}
		return false
	case opIPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for i := range pvals {
			if pvals[i].ok && pvals[i].pfx.Contains(a) {
				return true
			}
		}
		return false
	case opBinaryEquals:
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return false
		}
		for i := range pvals {
			if pvals[i].ok && bytes.Equal(pvals[i].bin, b) {
				return true
			}
		}
		return false
	}
	for i := range pvals {
		cv := &pvals[i]
		switch cc.op {
		case opStringEquals:
			if v == cv.text {
				return true
			}
		case opStringEqualsIgnoreCase:
			if strings.EqualFold(v, cv.text) {
				return true
			}
		case opStringLike:
			if cv.pat.match(v) {
				return true
			}
		case opARN:
			if cv.arn.match(v) {
				return true
			}
		}
	}
	return false
}

// compares applies the ordering operator at offset rel from its Equals
// (Equals, LessThan, LessThanEquals, GreaterThan, GreaterThanEquals, the
// order of the opKind constants) to the comparison result c.
func compares(rel opKind, c int) bool {
	switch rel {
	case 0:
		return c == 0
	case 1:
		return c < 0
	case 2:
		return c <= 0
	case 3:
		return c > 0
	case 4:
		return c >= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseNumber accepts IAM's integers and decimals; NaN and infinities,
// which strconv would take, are not numbers in a policy.
func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// dateLayouts are the W3C profile of ISO 8601 that IAM documents, most
// common first (aws:CurrentTime is RFC 3339); a time without a zone is UTC.
// Fractional seconds are accepted by time.Parse after any seconds field.
var dateLayouts = []string{
	time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02T15:04",
	"2006-01-02", "2006-01", "2006",
}

// parseDate accepts those layouts or epoch seconds ("1700000000").
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if isEpoch(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Abs(f) > 1e13 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isEpoch(s string) bool {
	if s[0] == '-' {
		s = s[1:]
	}
	dot := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && !dot && i > 0:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return s != "" && len(s) != 4 // "2024" is a year, not a second in 1970
}

// parsePrefix accepts a CIDR block or a single address (a /32 or /128).
// IPv4-mapped IPv6 is reduced to IPv4, as the request side is.
func parsePrefix(s string) (netip.Prefix, bool) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}
