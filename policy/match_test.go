package policy

import (
	"regexp"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		fold, want bool
	}{
		{"*", "", false, true},
		{"*", "anything", false, true},
		{"", "", false, true},
		{"", "a", false, false},
		{"kms:Encrypt", "kms:Encrypt", false, true},
		{"kms:Encrypt", "kms:Encrypt2", false, false},
		{"kms:Encrypt", "KMS:ENCRYPT", true, true},
		{"kms:Encrypt", "KMS:ENCRYPT", false, false},
		{"kms:Get*", "kms:GetKeyPolicy", true, true},
		{"kms:Get*", "kms:get", true, true},
		{"kms:Get*", "kms:Ge", true, false},
		{"kms:*Key", "kms:DescribeKey", true, true},
		{"kms:*Key", "kms:DescribeKeys", true, false},
		{"kms:Re?ncrypt*", "kms:ReEncryptFrom", true, true},
		{"kms:Re?ncrypt*", "kms:Rencrypt", true, false},
		{"a**b", "ab", false, true},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
		{"?", "é", false, true},
		{"??", "é", false, false},
		{"*??", "é", false, false},
		{"*?", "é", false, true},
		{"a*", "A", true, true},
		{"é*", "É", true, false}, // folding is ASCII only: action names are ASCII
	} {
		p := compilePattern(tc.pattern, tc.fold)
		if got := p.match(tc.s); got != tc.want {
			t.Errorf("%q (fold %v) on %q = %v, want %v", tc.pattern, tc.fold, tc.s, got, tc.want)
		}
	}
}

// TestGlobAgainstRegexp cross-checks the matcher with regexp on a small
// alphabet, every pattern and string up to a few characters.
func TestGlobAgainstRegexp(t *testing.T) {
	alphabet := []string{"a", "b", "*", "?"}
	var patterns []string
	var grow func(string, int)
	grow = func(p string, n int) {
		patterns = append(patterns, p)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			grow(p+c, n-1)
		}
	}
	grow("", 4)
	subjects := []string{"", "a", "b", "ab", "ba", "aab", "abab", "bbba", "aaaaa"}
	for _, p := range patterns {
		re := regexp.MustCompile("^" + strings.NewReplacer("*", ".*", "?", ".").Replace(p) + "$")
		cp := compilePattern(p, false)
		for _, s := range subjects {
			if got, want := cp.match(s), re.MatchString(s); got != want {
				t.Errorf("%q on %q = %v, regexp says %v", p, s, got, want)
			}
		}
	}
}

func TestSplitARN(t *testing.T) {
	part, svc, acct, res, ok := splitARN("arn:aws:kms:us-east-2:111122223333:key/a:b")
	if !ok || part != "aws" || svc != "kms" || acct != "111122223333" || res != "key/a:b" {
		t.Errorf("got %q %q %q %q %v", part, svc, acct, res, ok)
	}
	for _, bad := range []string{"", "arn", "arn:aws:iam::1", "urn:aws:iam::1:root"} {
		if _, _, _, _, ok := splitARN(bad); ok {
			t.Errorf("splitARN(%q) ok", bad)
		}
	}
}

func TestNewCaller(t *testing.T) {
	for _, tc := range []struct {
		r    Request
		want caller
	}{
		{Request{Principal: alice}, caller{arn: alice, partition: "aws", account: acct, user: "alice"}},
		{Request{Principal: rootARN}, caller{arn: rootARN, partition: "aws", account: acct, root: true}},
		{Request{Principal: rootARN, Account: other}, caller{arn: rootARN, partition: "aws", account: other}}, // inconsistent: not root
		{Request{Principal: appSess}, caller{arn: appSess, partition: "aws", account: acct, role: "EncryptionApp"}},
		{Request{Principal: "arn:aws:sts::111122223333:assumed-role/NoSession"}, caller{arn: "arn:aws:sts::111122223333:assumed-role/NoSession", partition: "aws", account: acct}},
		{Request{Principal: "nobody", Account: acct}, caller{arn: "nobody", account: acct}},
	} {
		if got := newCaller(&tc.r); got != tc.want {
			t.Errorf("newCaller(%+v) = %+v, want %+v", tc.r, got, tc.want)
		}
	}
}

func TestParseTemplate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // pieces rendered: text, [lit], {var|default}
	}{
		{"plain", ""},
		{"a${aws:username}b", "a{aws:username}b"},
		{"${ aws:username , 'nobody' }", "{aws:username|nobody}"},
		{"${*}${?}${$}", "[*][?][$]"},
		{"${unclosed", ""},
		{"${}x${k}", "${}x{k}"},
		{"${a b}${k}", "${a b}{k}"},
		{"${k, nodefault}${j}", "${k, nodefault}{j}"},
		{"${k, ''}", "{k|}"},
	} {
		var b strings.Builder
		for _, p := range parseTemplate(tc.in) {
			switch {
			case p.isVar && p.hasDef:
				b.WriteString("{" + p.key.name + "|" + p.text + "}")
			case p.isVar:
				b.WriteString("{" + p.key.name + "}")
			case p.lit:
				b.WriteString("[" + p.text + "]")
			default:
				b.WriteString(p.text)
			}
		}
		if got := b.String(); got != tc.want {
			t.Errorf("parseTemplate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClassifyKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kind  keyKind
		ecKey string
	}{
		{"kms:EncryptionContext:Department", keyEncryptionContext, "Department"},
		{"KMS:encryptioncontext:Cost Centre", keyEncryptionContext, "Cost Centre"},
		{"kms:EncryptionContextKeys", keyEncryptionContextKeys, ""},
		{"kms:encryptioncontextkeys", keyEncryptionContextKeys, ""},
		{"aws:PrincipalArn", keyPrincipalArn, ""},
		{"kms:CallerAccount", keyCallerAccount, ""},
		{"kms:ViaService", keyPlain, ""},
	} {
		k := classifyKey(tc.name)
		if k.kind != tc.kind || k.ecKey != tc.ecKey || k.name != tc.name {
			t.Errorf("classifyKey(%q) = %+v", tc.name, k)
		}
	}
}
