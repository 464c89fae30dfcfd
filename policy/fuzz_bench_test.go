package policy

import (
	"slices"
	"strings"
	"testing"
)

// denyAll is a statement that applies to every request whatsoever.
var denyAll = Statement{Sid: "DenyAll", Effect: EffectDeny, Principal: &Principals{Any: true}, Action: []string{"*"}, Resource: []string{"*"}}

// FuzzEvaluate feeds random documents (seeded with every document the
// parser and evaluator tests use) and random request fields. It checks that
// nothing panics, that the compiled and the hand-built (uncompiled) forms of
// a document agree, and that a Deny matching everything dominates: added to
// any key or identity policy it makes the answer Deny.
func FuzzEvaluate(f *testing.F) {
	var docs []string
	for _, tc := range validDocs {
		docs = append(docs, tc.doc)
	}
	for _, tc := range malformedDocs {
		if len(tc.doc) < 4096 {
			docs = append(docs, tc.doc)
		}
	}
	for _, tc := range explainCases {
		docs = append(docs, tc.doc)
	}
	docs = append(docs, idEncrypt, idAll, idDenyDecrypt, keyPolicyCrossAccount)
	reqs := [][6]string{
		{alice, "", "kms:Encrypt", keyARN, "kms:EncryptionContext:Department", "Finance"},
		{rootARN, acct, "kms:PutKeyPolicy", keyARN, "aws:SourceIp", "192.0.2.1"},
		{appSess, "", "KMS:decrypt", "*", "kms:GrantIsForAWSResource", "true"},
		{carol, other, "", "", "aws:CurrentTime", "2024-01-01T00:00:00Z"},
		{"", "", "s3:GetObject", "arn:aws:s3:::b/k", "aws:PrincipalTag/team", "*"},
	}
	for i, doc := range docs {
		r := reqs[i%len(reqs)]
		f.Add(doc, r[0], r[1], r[2], r[3], r[4], r[5])
	}
	f.Fuzz(func(t *testing.T, doc, principal, account, action, resource, key, value string) {
		d, err := Parse(doc)
		if err != nil {
			if d, err = ParseIdentity(doc); err != nil {
				return
			}
		}
		r := Request{Principal: principal, Account: account, Action: action, Resource: resource,
			EncryptionContext: map[string]string{key: value, strings.ToUpper(key): value + "x"}}
		r.Add(key, value, value+"2")
		r.Add("aws:PrincipalTag/team", value)

		got := d.Explain(&r)
		hand := &Document{Version: d.Version, ID: d.ID, Statements: d.Statements}
		if h := hand.Explain(&r); h != got {
			t.Fatalf("compiled %+v, hand-built %+v", got, h)
		}
		if got.Decision > Deny || got.Statement >= len(d.Statements) || (got.Decision == Allow && got.Delegated) {
			t.Fatalf("bad result %+v", got)
		}
		_ = LockoutSafe(d, &r)
		_ = Authorize(d, []*Document{d}, &r)

		withDeny := &Document{Version: d.Version, Statements: append(slices.Clone(d.Statements), denyAll)}
		if res := withDeny.Explain(&r); res.Decision != Deny {
			t.Fatalf("with a Deny for everything: %+v", res)
		}
		if dec := Authorize(withDeny, nil, &r); dec != Deny {
			t.Fatalf("Authorize, Deny in key policy: %v", dec)
		}
		if dec := Authorize(d, []*Document{d, withDeny}, &r); dec != Deny {
			t.Fatalf("Authorize, Deny in an identity policy: %v", dec)
		}
		if LockoutSafe(withDeny, &r) {
			t.Fatalf("lockout-safe despite a Deny for everything")
		}
	})
}

var sinkDecision Decision

func BenchmarkEvaluateDefaultPolicy(b *testing.B) {
	d := mustParse(b, defaultPolicy)
	r := Request{Principal: alice, Action: "kms:Encrypt", Resource: keyARN}
	b.ReportAllocs()
	for b.Loop() {
		if res := d.Explain(&r); !res.Delegated {
			b.Fatal(res)
		}
	}
}

// BenchmarkEvaluateWithConditions: the key admin/user policy plus an
// encryption-context statement, answered for a caller that needs all of it.
func BenchmarkEvaluateWithConditions(b *testing.B) {
	d := mustParse(b, stmt(`{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSAdminRole"},"Action":["kms:Create*","kms:Describe*","kms:Put*","kms:Delete*"],"Resource":"*"}`,
		`{"Sid":"NoOutside","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","10.0.0.0/8"]},"Bool":{"aws:ViaAWSService":"false"}}}`,
		`{"Sid":"Use","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/EncryptionApp"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",
		  "Condition":{"StringEquals":{"kms:EncryptionContext:Department":"Finance","kms:CallerAccount":"111122223333"},"StringLike":{"kms:EncryptionContext:Project":"proj-*"}}}`))
	r := Request{Principal: appSess, Action: "kms:Decrypt", Resource: keyARN,
		EncryptionContext: map[string]string{"Department": "Finance", "Project": "proj-42"},
		Context:           []ContextEntry{{"aws:SourceIp", []string{"192.0.2.7"}}, {"aws:ViaAWSService", []string{"false"}}}}
	b.ReportAllocs()
	for b.Loop() {
		if sinkDecision = d.Evaluate(&r); sinkDecision != Allow {
			b.Fatal(sinkDecision)
		}
	}
}

func BenchmarkAuthorizeDelegated(b *testing.B) {
	key := mustParse(b, defaultPolicy)
	ids := []*Document{mustParseIdentity(b, idOtherKey), mustParseIdentity(b, idEncrypt)}
	r := Request{Principal: alice, Action: "kms:Encrypt", Resource: keyARN}
	b.ReportAllocs()
	for b.Loop() {
		if sinkDecision = Authorize(key, ids, &r); sinkDecision != Allow {
			b.Fatal(sinkDecision)
		}
	}
}

// BenchmarkContextSlice and BenchmarkContextMap compare the two ways the API
// layer could hand condition keys over: build the context of one call and
// look up two keys case-insensitively. The map has to be keyed by lowered
// names, so every lookup lowers too.
var ctxKeys = [...]string{"kms:CallerAccount", "aws:SourceIp", "kms:ViaService", "kms:GrantIsForAWSResource"}

func BenchmarkContextSlice(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		var buf [4]ContextEntry
		r := Request{Context: buf[:0]}
		for _, k := range ctxKeys {
			r.Context = append(r.Context, ContextEntry{Key: k, Values: nil})
		}
		for _, want := range [...]string{"AWS:SourceIp", "kms:viaservice"} {
			for i := range r.Context {
				if strings.EqualFold(r.Context[i].Key, want) {
					n++
					break
				}
			}
		}
	}
	if n == 0 {
		b.Fatal("no lookups")
	}
}

func BenchmarkContextMap(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		m := make(map[string][]string, len(ctxKeys))
		for _, k := range ctxKeys {
			m[strings.ToLower(k)] = nil
		}
		for _, want := range [...]string{"AWS:SourceIp", "kms:viaservice"} {
			if _, ok := m[strings.ToLower(want)]; ok {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("no lookups")
	}
}
