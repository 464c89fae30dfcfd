package wire

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ValidationError is a request that breaks the model's constraints. Its
// message follows AWS's wording ("1 validation error detected: Value 'x' at
// 'keySpec' failed to satisfy constraint: ...") so clients that parse it keep
// working.
type ValidationError struct{ Msg string }

// Error returns the AWS-worded message.
func (e *ValidationError) Error() string { return e.Msg }

// NewValidationError builds a ValidationError for one violated constraint at
// the member path (lowerCamel, as AWS names it). value is not echoed when empty
// (AWS does not echo blobs or secrets).
func NewValidationError(path, value, constraint string) *ValidationError {
	var v validator
	v.add(path, value, value != "", constraint)
	return &ValidationError{Msg: v.msg()}
}

// NewNullError is the ValidationError of a required member that is absent.
func NewNullError(path string) *ValidationError {
	var v validator
	v.null(path)
	return &ValidationError{Msg: v.msg()}
}

const (
	noMin = -1 << 62
	noMax = 1 << 62
)

// validator collects constraint violations in model order.
type validator struct{ errs []string }

func (v *validator) add(path, value string, show bool, constraint string) {
	var b strings.Builder
	b.WriteString("Value ")
	if show {
		b.WriteByte('\'')
		b.WriteString(value)
		b.WriteByte('\'')
		b.WriteString(" ")
	}
	b.WriteString("at '")
	b.WriteString(path)
	b.WriteString("' failed to satisfy constraint: ")
	b.WriteString(constraint)
	v.errs = append(v.errs, b.String())
}

func (v *validator) null(path string) {
	v.errs = append(v.errs, "Value null at '"+path+"' failed to satisfy constraint: Member must not be null")
}

func (v *validator) enum(val, path string, set []string) {
	for _, s := range set {
		if s == val {
			return
		}
	}
	v.add(path, val, true, "Member must satisfy enum value set: ["+strings.Join(set, ", ")+"]")
}

func (v *validator) strLength(val, path string, lo, hi int) {
	n := utf8.RuneCountInString(val)
	if n < lo {
		v.add(path, val, true, "Member must have length greater than or equal to "+itoa(lo))
	}
	if hi >= 0 && n > hi {
		v.add(path, truncate(val), true, "Member must have length less than or equal to "+itoa(hi))
	}
}

func (v *validator) blobLength(path string, n, lo, hi int) {
	if n < lo {
		v.add(path, "", false, "Member must have length greater than or equal to "+itoa(lo))
	}
	if hi >= 0 && n > hi {
		v.add(path, "", false, "Member must have length less than or equal to "+itoa(hi))
	}
}

func (v *validator) count(path string, n, lo, hi int) {
	if n < lo {
		v.add(path, "", false, "Member must have length greater than or equal to "+itoa(lo))
	}
	if hi >= 0 && n > hi {
		v.add(path, "", false, "Member must have length less than or equal to "+itoa(hi))
	}
}

func (v *validator) rangeInt(n int64, path string, lo, hi int64) {
	s := strconv.FormatInt(n, 10)
	if n < lo {
		v.add(path, s, true, "Member must have value greater than or equal to "+strconv.FormatInt(lo, 10))
	}
	if n > hi {
		v.add(path, s, true, "Member must have value less than or equal to "+strconv.FormatInt(hi, 10))
	}
}

func (v *validator) pattern(val, path string, p *modelPattern) {
	if !p.re.MatchString(val) {
		v.add(path, truncate(val), true, "Member must satisfy regular expression pattern: "+p.src)
	}
}

func (v *validator) msg() string {
	n := len(v.errs)
	head := "1 validation error detected: "
	if n > 1 {
		head = itoa(n) + " validation errors detected: "
	}
	return head + strings.Join(v.errs, "; ")
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Msg: v.msg()}
}

// truncate keeps echoed values short so a huge field does not make a huge
// error message.
func truncate(s string) string {
	if len(s) <= 256 {
		return s
	}
	return s[:256] + "..."
}

func itoa(i int) string { return strconv.Itoa(i) }

// modelPattern is a model constraint pattern: the model's (Java) source,
// shown in messages, and its Go translation, matched against the whole value
// as Java's String.matches does.
type modelPattern struct {
	src string
	re  *regexp.Regexp
}

var javaEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

func mustCompile(p string) *modelPattern {
	goRE := javaEscape.ReplaceAllString(p, `\x{$1}`)
	return &modelPattern{src: p, re: regexp.MustCompile(`^(?:` + goRE + `)$`)}
}
