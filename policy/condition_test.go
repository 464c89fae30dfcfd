package policy

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// absent marks a condition key missing from the request.
var absent []string

// empty is a key present with no values, which counts as absent.
var empty = []string{}

func vs(v ...string) []string { return v }

// conditionCases exercise one operator each: the statement's Condition is
// {op: {"k": policy}} and the request carries k = request.
var conditionCases = []struct {
	op      string
	policy  string // JSON value
	request []string
	want    bool
}{
	{"StringEquals", `"a"`, vs("a"), true},
	{"StringEquals", `"a"`, vs("A"), false},
	{"StringEquals", `["x","a"]`, vs("a"), true}, // values of one key: OR
	{"StringEquals", `"a"`, absent, false},
	{"StringEquals", `"a"`, vs("b", "a"), true}, // multi-valued key, no qualifier: any
	{"StringEquals", `"true"`, vs("true"), true},
	{"StringEquals", `true`, vs("true"), true}, // JSON booleans and numbers compare as text
	{"StringEquals", `12`, vs("12"), true},
	{"StringEquals", `12`, vs("12.0"), false},
	{"StringNotEquals", `"a"`, vs("b"), true},
	{"StringNotEquals", `"a"`, vs("a"), false},
	{"StringNotEquals", `["a","b"]`, vs("b"), false}, // NOR over the policy values
	{"StringNotEquals", `["a","b"]`, vs("c"), true},
	{"StringNotEquals", `"a"`, absent, true}, // negated operator on a missing key
	{"StringNotEquals", `"a"`, vs("c", "a"), false},
	{"StringEqualsIgnoreCase", `"Finance"`, vs("FINANCE"), true},
	{"StringEqualsIgnoreCase", `"Finance"`, vs("Fin"), false},
	{"StringNotEqualsIgnoreCase", `"Finance"`, vs("finance"), false},
	{"StringNotEqualsIgnoreCase", `"Finance"`, vs("HR"), true},
	{"StringNotEqualsIgnoreCase", `"Finance"`, absent, true},
	{"StringLike", `"fin*"`, vs("finance"), true},
	{"StringLike", `"fin*"`, vs("Finance"), false},
	{"StringLike", `"f?n"`, vs("fin"), true},
	{"StringLike", `"f?n"`, vs("fiin"), false},
	{"StringLike", `"*"`, vs(""), true},
	{"StringLike", `"*"`, absent, false},
	{"StringLike", `"a*b*c"`, vs("aXXbYYc"), true},
	{"StringLike", `"a*b*c"`, vs("aXXcYYb"), false},
	{"StringLike", `"é?"`, vs("éé"), true},
	{"StringNotLike", `"fin*"`, vs("hr"), true},
	{"StringNotLike", `"fin*"`, vs("final"), false},
	{"StringNotLike", `"fin*"`, absent, true},
	{"NumericEquals", `"10"`, vs("10.0"), true},
	{"NumericEquals", `1.50`, vs("1.5"), true},
	{"NumericEquals", `"10"`, vs("x"), false},
	{"NumericEquals", `"x"`, vs("10"), false},
	{"NumericEquals", `"10"`, vs("NaN"), false},
	{"NumericNotEquals", `"10"`, vs("11"), true},
	{"NumericNotEquals", `"10"`, vs("10"), false},
	{"NumericNotEquals", `"10"`, vs("x"), true},
	{"NumericNotEquals", `"10"`, absent, true},
	{"NumericLessThan", `"10"`, vs("9"), true},
	{"NumericLessThan", `"10"`, vs("10"), false},
	{"NumericLessThanEquals", `"10"`, vs("10"), true},
	{"NumericLessThanEquals", `"10"`, vs("-3e2"), true},
	{"NumericGreaterThan", `"10"`, vs("10"), false},
	{"NumericGreaterThan", `"10"`, vs("10.001"), true},
	{"NumericGreaterThanEquals", `["5","20"]`, vs("10"), true},
	{"NumericGreaterThanEquals", `"10"`, absent, false},
	{"DateEquals", `"2024-01-01T00:00:00Z"`, vs("2024-01-01T01:00:00+01:00"), true},
	{"DateEquals", `"2024-01-01"`, vs("2024-01-01T00:00:00Z"), true},
	{"DateEquals", `"1704067200"`, vs("2024-01-01T00:00:00Z"), true},
	{"DateEquals", `1704067200`, vs("2024-01-01T00:00:00.000Z"), true},
	{"DateEquals", `"2024"`, vs("2024-01-01T00:00:00Z"), true},
	{"DateEquals", `"2024-01-01T00:00:00Z"`, vs("yesterday"), false},
	{"DateNotEquals", `"2024-01-01T00:00:00Z"`, vs("2024-01-02T00:00:00Z"), true},
	{"DateNotEquals", `"2024-01-01T00:00:00Z"`, absent, true},
	{"DateLessThan", `"2024-06-01T00:00:00Z"`, vs("2024-05-31T23:59:59Z"), true},
	{"DateLessThan", `"2024-06-01T00:00:00Z"`, vs("2024-06-01T00:00:00Z"), false},
	{"DateLessThanEquals", `"2024-06-01T00:00:00Z"`, vs("2024-06-01T00:00:00Z"), true},
	{"DateGreaterThan", `"2024-06-01T00:00:00Z"`, vs("2024-06-01T00:00:00.5Z"), true},
	{"DateGreaterThanEquals", `"2024-06-01T12:00Z"`, vs("2024-06-01T11:59:59Z"), false},
	{"DateGreaterThanEquals", `"2024-06-01T12:00Z"`, absent, false},
	{"Bool", `true`, vs("true"), true},
	{"Bool", `"true"`, vs("True"), true},
	{"Bool", `true`, vs("false"), false},
	{"Bool", `false`, vs("false"), true},
	{"Bool", `true`, vs("yes"), false},
	{"Bool", `true`, absent, false},
	{"BinaryEquals", `"QmluYXJ5"`, vs("QmluYXJ5"), true},
	{"BinaryEquals", `"QmluYXJ5"`, vs("QmluYXJ6"), false},
	{"BinaryEquals", `"QmluYXJ5"`, vs("not base64!"), false},
	{"IpAddress", `"203.0.113.0/24"`, vs("203.0.113.9"), true},
	{"IpAddress", `"203.0.113.0/24"`, vs("203.0.114.9"), false},
	{"IpAddress", `"203.0.113.7"`, vs("203.0.113.7"), true},
	{"IpAddress", `"203.0.113.7/24"`, vs("203.0.113.9"), true}, // host bits are masked
	{"IpAddress", `"203.0.113.0/24"`, vs("::ffff:203.0.113.9"), true},
	{"IpAddress", `"2001:db8::/32"`, vs("2001:db8:1::1"), true},
	{"IpAddress", `"2001:db8::/32"`, vs("203.0.113.9"), false},
	{"IpAddress", `"garbage"`, vs("203.0.113.9"), false},
	{"IpAddress", `"203.0.113.0/24"`, absent, false},
	{"NotIpAddress", `"203.0.113.0/24"`, vs("198.51.100.1"), true},
	{"NotIpAddress", `"203.0.113.0/24"`, vs("203.0.113.1"), false},
	{"NotIpAddress", `"203.0.113.0/24"`, absent, true},
	{"ArnEquals", `"arn:aws:iam::111122223333:role/App"`, vs("arn:aws:iam::111122223333:role/App"), true},
	{"ArnEquals", `"arn:aws:iam::*:role/App"`, vs("arn:aws:iam::111122223333:role/App"), true},
	{"ArnEquals", `"arn:aws:iam::111122223333:role/App"`, vs("arn:aws:iam::111122223333:role/app"), false},
	{"ArnLike", `"arn:aws:iam::*:role/*"`, vs("arn:aws:iam::111122223333:role/a/b"), true},
	{"ArnLike", `"arn:aws:iam::*:role/*"`, vs("arn:aws:iam::111122223333:user/a"), false},
	{"ArnLike", `"arn:aws:kms:*:111122223333:key/*"`, vs("arn:aws:kms:us-east-1:111122223333:key/k"), true},
	{"ArnLike", `"arn:aws:kms:*:111122223333:key/*"`, vs("arn:aws:kms:us:east:111122223333:key/k"), false}, // a wildcard stays in its field
	{"ArnLike", `"arn:aws:kms:*:*:alias/a:b"`, vs("arn:aws:kms:r:1:alias/a:b"), true},                      // the resource keeps its colons
	{"ArnLike", `"arn:aws:kms:*:*:*"`, vs("arn:aws:kms:r:1"), false},
	{"ArnLike", `"*"`, vs("anything"), true},
	{"ArnNotEquals", `"arn:aws:iam::111122223333:role/App"`, vs("arn:aws:iam::111122223333:role/Other"), true},
	{"ArnNotLike", `"arn:aws:iam::*:role/*"`, vs("arn:aws:iam::111122223333:role/x"), false},
	{"ArnNotLike", `"arn:aws:iam::*:role/*"`, absent, true},
	{"Null", `"true"`, absent, true},
	{"Null", `"true"`, vs("x"), false},
	{"Null", `false`, vs("x"), true},
	{"Null", `false`, absent, false},
	{"Null", `"maybe"`, absent, false},
	{"Null", `"true"`, empty, true}, // no values counts as absent

	// …IfExists: true when the key is missing, else the operator.
	{"StringEqualsIfExists", `"a"`, absent, true},
	{"StringEqualsIfExists", `"a"`, vs("b"), false},
	{"StringEqualsIfExists", `"a"`, vs("a"), true},
	{"NumericLessThanIfExists", `"3"`, absent, true},
	{"BoolIfExists", `true`, vs("false"), false},
	{"ArnLikeIfExists", `"arn:*:*:*:*:*"`, absent, true},

	// Set qualifiers.
	{"ForAllValues:StringEquals", `["a","b"]`, vs("a", "b"), true},
	{"ForAllValues:StringEquals", `["a","b"]`, vs("a", "c"), false},
	{"ForAllValues:StringEquals", `["a","b"]`, absent, true},
	{"ForAllValues:StringEquals", `["a","b"]`, empty, true},
	{"ForAllValues:StringNotEquals", `["a","b"]`, vs("c", "d"), true},
	{"ForAllValues:StringNotEquals", `["a","b"]`, vs("c", "a"), false},
	{"ForAllValues:StringNotEquals", `["a","b"]`, absent, true},
	{"ForAllValues:StringLike", `"team-*"`, vs("team-a", "team-b"), true},
	{"ForAllValues:StringLikeIfExists", `"team-*"`, absent, true},
	{"ForAnyValue:StringEquals", `["a","b"]`, vs("x", "b"), true},
	{"ForAnyValue:StringEquals", `["a","b"]`, vs("x", "y"), false},
	{"ForAnyValue:StringEquals", `["a","b"]`, absent, false},
	{"ForAnyValue:StringNotEquals", `["a","b"]`, vs("a", "c"), true}, // c is neither a nor b
	{"ForAnyValue:StringNotEquals", `["a","b"]`, vs("a", "b"), false},
	{"ForAnyValue:StringNotEquals", `["a","b"]`, absent, false},
	{"ForAnyValue:StringEqualsIfExists", `"a"`, absent, true},
	{"ForAnyValue:NumericGreaterThan", `"5"`, vs("1", "9"), true},
	{"ForAnyValue:IpAddress", `"10.0.0.0/8"`, vs("192.0.2.1", "10.1.2.3"), true},
	{"ForAllValues:ArnLike", `"arn:aws:kms:*:*:alias/app-*"`, vs("arn:aws:kms:r:1:alias/app-a", "arn:aws:kms:r:1:alias/db"), false},
}

func TestConditionOperators(t *testing.T) {
	for i, tc := range conditionCases {
		doc := stmt(fmt.Sprintf(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{%q:{"k":%s}}}`, tc.op, tc.policy))
		d := mustParse(t, doc)
		r := rq(alice, "kms:Encrypt")
		if tc.request != nil {
			r.Add("K", tc.request...) // key names are case-insensitive
		}
		want := NotApplicable
		if tc.want {
			want = Allow
		}
		if got := d.Evaluate(&r); got != want {
			t.Errorf("%d: %s %s with %q = %v, want %v", i, tc.op, tc.policy, tc.request, got, want)
		}
	}
}

// TestConditionsAreANDed: several keys in one operator and several
// operators in one Condition must all hold.
func TestConditionsAreANDed(t *testing.T) {
	d := mustParse(t, stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{
		"StringEquals":{"a":"1","b":"2"},"NumericLessThan":{"n":"10"}}}`))
	for _, tc := range []struct {
		kv   []string
		want Decision
	}{
		{[]string{"a", "1", "b", "2", "n", "3"}, Allow},
		{[]string{"a", "1", "b", "2", "n", "30"}, NotApplicable},
		{[]string{"a", "1", "b", "3", "n", "3"}, NotApplicable},
		{[]string{"a", "1", "n", "3"}, NotApplicable},
	} {
		r := rq(alice, "kms:Encrypt", tc.kv...)
		if got := d.Evaluate(&r); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.kv, got, tc.want)
		}
	}
}

// TestEveryOperatorEvaluates keeps the evaluator's operator table in step
// with the parser's: an operator Parse accepted but nothing evaluated would
// be a silent hole.
func TestEveryOperatorEvaluates(t *testing.T) {
	if p, e := slices.Sorted(maps.Keys(baseOperators)), slices.Sorted(maps.Keys(operators)); !slices.Equal(p, e) {
		t.Fatalf("parser operators %q\nevaluator operators %q", p, e)
	}
	tested := map[string]bool{}
	for _, tc := range conditionCases {
		op, _ := parseOperator(tc.op)
		tested[op.base] = true
	}
	for name := range baseOperators {
		if !tested[name] {
			t.Errorf("operator %s has no case in conditionCases", name)
		}
	}
}

func TestDerivedKeys(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		cond string
		req  Request
		want Decision
	}{
		{`{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, rq(alice, "kms:Encrypt"), Allow},
		{`{"ArnLike":{"aws:principalarn":"arn:aws:iam::*:user/*"}}`, rq(appRole, "kms:Encrypt"), NotApplicable},
		{`{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, rq(alice, "kms:Encrypt"), Allow},
		{`{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, Request{Principal: "anonymous", Account: acct, Action: "kms:Encrypt"}, Allow},
		{`{"StringEquals":{"aws:username":"alice"}}`, rq("arn:aws:iam::111122223333:user/dev/alice", "kms:Encrypt"), Allow},
		{`{"Null":{"aws:username":"true"}}`, rq(appSess, "kms:Encrypt"), Allow},
		{`{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}`, Request{Principal: alice, Time: now}, Allow},
		{`{"DateLessThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}`, Request{Principal: alice, Time: now}, NotApplicable},
		{`{"NumericGreaterThan":{"aws:EpochTime":"1717243199"}}`, Request{Principal: alice, Time: now}, Allow},
		{`{"Null":{"aws:CurrentTime":"true"}}`, Request{Principal: alice}, Allow},
		{`{"StringEquals":{"aws:CurrentTime":"x"}}`, func() Request { r := Request{Principal: alice, Time: now}; r.Add("AWS:CurrentTime", "x"); return r }(), Allow},
		{`{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/app"}}`, rq(alice, "kms:Encrypt", "kms:ResourceAliases", "alias/db"), NotApplicable},
		{`{"Null":{"kms:EncryptionContextKeys":"true"}}`, withEC(rq(alice, "kms:Encrypt"), map[string]string{}), Allow},
		// Two context keys that differ only by case both count.
		{`{"StringEquals":{"kms:EncryptionContext:dept":"b"}}`, withEC(rq(alice, "kms:Encrypt"), map[string]string{"Dept": "a", "DEPT": "b"}), Allow},
		{`{"ForAllValues:StringEquals":{"kms:EncryptionContext:dept":["a","b"]}}`, withEC(rq(alice, "kms:Encrypt"), map[string]string{"Dept": "a", "DEPT": "b"}), Allow},
		{`{"ForAllValues:StringEquals":{"kms:EncryptionContext:dept":"a"}}`, withEC(rq(alice, "kms:Encrypt"), map[string]string{"Dept": "a", "DEPT": "b"}), NotApplicable},
	}
	for i, tc := range cases {
		d := mustParse(t, stmt(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":`+tc.cond+`}`))
		if got := d.Evaluate(&tc.req); got != tc.want {
			t.Errorf("%d: %s = %v, want %v", i, tc.cond, got, tc.want)
		}
	}
}
