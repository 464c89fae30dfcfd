package policy

import (
	"sync"
	"testing"
)

const (
	acct    = "111122223333"
	other   = "444455556666"
	keyARN  = "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	rootARN = "arn:aws:iam::111122223333:root"
	alice   = "arn:aws:iam::111122223333:user/alice"
	bob     = "arn:aws:iam::111122223333:user/bob"
	carol   = "arn:aws:iam::444455556666:user/carol"
	appRole = "arn:aws:iam::111122223333:role/EncryptionApp"
	appSess = "arn:aws:sts::111122223333:assumed-role/EncryptionApp/i-0abc"
	admin   = "arn:aws:iam::111122223333:role/KMSAdminRole"
)

func mustParse(tb testing.TB, doc string) *Document {
	tb.Helper()
	d, err := Parse(doc)
	if err != nil {
		tb.Fatalf("Parse: %v\n%s", err, doc)
	}
	return d
}

func mustParseIdentity(tb testing.TB, doc string) *Document {
	tb.Helper()
	d, err := ParseIdentity(doc)
	if err != nil {
		tb.Fatalf("ParseIdentity: %v\n%s", err, doc)
	}
	return d
}

// rq builds a request on keyARN; kv are condition key/value pairs.
func rq(principal, action string, kv ...string) Request {
	r := Request{Principal: principal, Action: action, Resource: keyARN}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Add(kv[i], kv[i+1])
	}
	return r
}

func withEC(r Request, ec map[string]string) Request {
	r.EncryptionContext = ec
	return r
}

func withResource(r Request, res string) Request {
	r.Resource = res
	return r
}

var defaultPolicy = DefaultKeyPolicy("aws", acct)

// encryptionContextPolicy is the AWS example that allows use of the key
// only with a given encryption context pair.
var encryptionContextPolicy = stmt(`{"Sid":"Finance","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/EncryptionApp"},
	"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",
	"Condition":{"StringEquals":{"kms:EncryptionContext:Department":"Finance"}}}`)

// viaServicePolicy is shaped like the key policy of an AWS managed key
// (aws/ebs): use only through EC2 in one region, by callers of the account.
var viaServicePolicy = stmt(`{"Sid":"ViaEBS","Effect":"Allow","Principal":{"AWS":"*"},
	"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*",
	"Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"ec2.us-west-2.amazonaws.com"}}}`)

// denyOutsideNetwork adds the AWS example "deny unless from the corporate
// network" to the default key policy.
var denyOutsideNetwork = stmt(`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`,
	`{"Sid":"DenyOutside","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","2001:db8::/32"]}}}`)

var notPrincipalPolicy = stmt(`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`,
	`{"Sid":"OnlyAlice","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]},"Action":"kms:Decrypt","Resource":"*"}`)

// notPrincipalNoAccount forgets the account ARN, the mistake AWS's
// NotPrincipal documentation warns about: alice is denied too.
var notPrincipalNoAccount = stmt(`{"Sid":"OnlyAlice","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Decrypt","Resource":"*"}`)

var notActionPolicy = stmt(`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`,
	`{"Sid":"ReadOnly","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"NotAction":["kms:Describe*","kms:Get*","kms:List*"],"Resource":"*"}`)

var contextKeysPolicy = stmt(`{"Sid":"OnlyKnownKeys","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/EncryptionApp"},"Action":"kms:Encrypt","Resource":"*",
	"Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]}}}`)

var contextKeysRequiredPolicy = stmt(`{"Sid":"KnownKeysRequired","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/EncryptionApp"},"Action":"kms:Encrypt","Resource":"*",
	"Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]},"Null":{"kms:EncryptionContextKeys":"false"}}}`)

var anyKeyPolicy = stmt(`{"Sid":"AnyDept","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/EncryptionApp"},"Action":"kms:Encrypt","Resource":"*",
	"Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"Department"}}}`)

var resourcePolicy = stmt(`{"Sid":"Keys","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"arn:aws:kms:us-east-2:111122223333:key/*"}`,
	`{"Sid":"NotSecret","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Decrypt","NotResource":"arn:aws:kms:*:111122223333:key/secret-*"}`)

var variablePolicy = stmt(`{"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*",
	"Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}}`,
	`{"Sid":"Team","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*",
	"Condition":{"StringLike":{"kms:EncryptionContext:path":"${aws:PrincipalTag/team, 'shared'}/*"}}}`)

var explainCases = []struct {
	name      string
	doc       string
	req       Request
	want      Decision
	delegated bool
	sid       string
}{
	// The default key policy allows the account: the root user directly,
	// every other identity of the account through its IAM policies.
	{"default: root", defaultPolicy, rq(rootARN, "kms:Encrypt"), Allow, false, "Enable IAM User Permissions"},
	{"default: root any kms action", defaultPolicy, rq(rootARN, "kms:ScheduleKeyDeletion"), Allow, false, ""},
	{"default: user is delegated", defaultPolicy, rq(alice, "kms:Encrypt"), NotApplicable, true, "Enable IAM User Permissions"},
	{"default: role session is delegated", defaultPolicy, rq(appSess, "kms:Decrypt"), NotApplicable, true, ""},
	{"default: other account", defaultPolicy, rq(carol, "kms:Encrypt"), NotApplicable, false, ""},
	{"default: other partition", defaultPolicy, rq("arn:aws-cn:iam::111122223333:user/alice", "kms:Encrypt"), NotApplicable, false, ""},
	{"default: not a kms action", defaultPolicy, rq(rootARN, "s3:GetObject"), NotApplicable, false, ""},
	{"default: empty principal", defaultPolicy, rq("", "kms:Encrypt"), NotApplicable, false, ""},

	// Key administrators and key users are separated.
	{"admin can PutKeyPolicy", keyAdminUserPolicy, rq(admin, "kms:PutKeyPolicy"), Allow, false, "Allow access for Key Administrators"},
	{"admin can ScheduleKeyDeletion", keyAdminUserPolicy, rq(admin, "kms:ScheduleKeyDeletion"), Allow, false, ""},
	{"admin cannot Decrypt by key policy alone", keyAdminUserPolicy, rq(admin, "kms:Decrypt"), NotApplicable, true, "Enable IAM User Permissions"},
	{"user can Encrypt", keyAdminUserPolicy, rq(appRole, "kms:Encrypt"), Allow, false, "Allow use of the key"},
	{"user ReEncryptFrom via ReEncrypt*", keyAdminUserPolicy, rq(appRole, "kms:ReEncryptFrom"), Allow, false, ""},
	{"actions are case-insensitive", keyAdminUserPolicy, rq(appRole, "KMS:generatedatakeywithoutplaintext"), Allow, false, ""},
	{"role session is the role", keyAdminUserPolicy, rq(appSess, "kms:Decrypt"), Allow, false, "Allow use of the key"},
	{"session of a same-named role elsewhere", keyAdminUserPolicy, rq("arn:aws:sts::444455556666:assumed-role/EncryptionApp/x", "kms:Decrypt"), NotApplicable, false, ""},
	{"user cannot ScheduleKeyDeletion", keyAdminUserPolicy, rq(appRole, "kms:ScheduleKeyDeletion"), NotApplicable, true, ""},
	{"grant for AWS resource", keyAdminUserPolicy, rq(appRole, "kms:CreateGrant", "kms:GrantIsForAWSResource", "true"), Allow, false, "Allow attachment of persistent resources"},
	{"grant flag case-insensitive key and value", keyAdminUserPolicy, rq(appRole, "kms:CreateGrant", "KMS:grantisforawsresource", "TRUE"), Allow, false, ""},
	{"grant not for AWS resource", keyAdminUserPolicy, rq(appRole, "kms:CreateGrant", "kms:GrantIsForAWSResource", "false"), NotApplicable, true, ""},
	{"grant flag absent", keyAdminUserPolicy, rq(appRole, "kms:CreateGrant"), NotApplicable, true, ""},

	// Encryption context conditions.
	{"context matches", encryptionContextPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"Department": "Finance", "Project": "x"}), Allow, false, "Finance"},
	{"context key case-insensitive", encryptionContextPolicy, withEC(rq(appRole, "kms:Decrypt"), map[string]string{"department": "Finance"}), Allow, false, ""},
	{"context value case-sensitive", encryptionContextPolicy, withEC(rq(appRole, "kms:Decrypt"), map[string]string{"Department": "finance"}), NotApplicable, false, ""},
	{"context missing", encryptionContextPolicy, rq(appRole, "kms:Encrypt"), NotApplicable, false, ""},
	{"context from Context entries", encryptionContextPolicy, rq(appRole, "kms:Encrypt", "kms:EncryptionContext:Department", "Finance"), Allow, false, ""},
	{"ForAllValues keys subset", contextKeysPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"Department": "a"}), Allow, false, ""},
	{"ForAllValues keys all", contextKeysPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"Department": "a", "Project": "b"}), Allow, false, ""},
	{"ForAllValues extra key", contextKeysPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"Department": "a", "Owner": "b"}), NotApplicable, false, ""},
	{"ForAllValues keys case-sensitive", contextKeysPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"department": "a"}), NotApplicable, false, ""},
	{"ForAllValues no context is vacuously true", contextKeysPolicy, rq(appRole, "kms:Encrypt"), Allow, false, ""},
	{"Null false requires a context", contextKeysRequiredPolicy, rq(appRole, "kms:Encrypt"), NotApplicable, false, ""},
	{"Null false with context", contextKeysRequiredPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"Project": "p"}), Allow, false, ""},
	{"ForAnyValue one matches", anyKeyPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"Department": "a", "X": "b"}), Allow, false, ""},
	{"ForAnyValue none matches", anyKeyPolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"X": "b"}), NotApplicable, false, ""},
	{"ForAnyValue no context", anyKeyPolicy, rq(appRole, "kms:Encrypt"), NotApplicable, false, ""},

	// Conditions on keys the request lacks make the statement not apply.
	{"ViaService absent", viaServicePolicy, rq(alice, "kms:Decrypt"), NotApplicable, false, ""},
	{"ViaService other region", viaServicePolicy, rq(alice, "kms:Decrypt", "kms:ViaService", "ec2.us-east-1.amazonaws.com"), NotApplicable, false, ""},
	{"ViaService present, CallerAccount derived", viaServicePolicy, rq(alice, "kms:Decrypt", "kms:ViaService", "ec2.us-west-2.amazonaws.com"), Allow, false, "ViaEBS"},
	{"ViaService, caller of another account", viaServicePolicy, rq(carol, "kms:Decrypt", "kms:ViaService", "ec2.us-west-2.amazonaws.com"), NotApplicable, false, ""},
	{"ViaService, CallerAccount overridden", viaServicePolicy, rq(carol, "kms:Decrypt", "kms:ViaService", "ec2.us-west-2.amazonaws.com", "kms:CallerAccount", acct), Allow, false, ""},

	// Explicit deny overrides any allow.
	{"inside network", denyOutsideNetwork, rq(rootARN, "kms:Decrypt", "aws:SourceIp", "192.0.2.10"), Allow, false, "Root"},
	{"inside network v6", denyOutsideNetwork, rq(rootARN, "kms:Decrypt", "aws:SourceIp", "2001:db8::1"), Allow, false, ""},
	{"outside network", denyOutsideNetwork, rq(rootARN, "kms:Decrypt", "aws:SourceIp", "203.0.113.5"), Deny, false, "DenyOutside"},
	{"no source IP: negated operator holds", denyOutsideNetwork, rq(rootARN, "kms:Decrypt"), Deny, false, "DenyOutside"},
	{"unparsable source IP", denyOutsideNetwork, rq(rootARN, "kms:Decrypt", "aws:SourceIp", "not-an-ip"), Deny, false, ""},
	{"deny of delegated caller", denyOutsideNetwork, rq(alice, "kms:Decrypt", "aws:SourceIp", "203.0.113.5"), Deny, false, ""},

	// NotPrincipal with Deny spares a caller only if all its identities are listed.
	{"NotPrincipal: alice and account listed", notPrincipalPolicy, rq(alice, "kms:Decrypt"), NotApplicable, true, ""},
	{"NotPrincipal: bob denied", notPrincipalPolicy, rq(bob, "kms:Decrypt"), Deny, false, "OnlyAlice"},
	{"NotPrincipal: root listed", notPrincipalPolicy, rq(rootARN, "kms:Decrypt"), Allow, false, "Root"},
	{"NotPrincipal: other account denied", notPrincipalPolicy, rq(carol, "kms:Decrypt"), Deny, false, ""},
	{"NotPrincipal: other action", notPrincipalPolicy, rq(bob, "kms:Encrypt"), NotApplicable, true, ""},
	{"NotPrincipal without the account denies alice", notPrincipalNoAccount, rq(alice, "kms:Decrypt"), Deny, false, ""},

	// NotAction.
	{"NotAction: Encrypt denied", notActionPolicy, rq(bob, "kms:Encrypt"), Deny, false, "ReadOnly"},
	{"NotAction: DescribeKey not denied", notActionPolicy, rq(bob, "kms:DescribeKey"), NotApplicable, true, ""},
	{"NotAction: others unaffected", notActionPolicy, rq(alice, "kms:Encrypt"), NotApplicable, true, ""},

	// Resource and NotResource.
	{"resource wildcard", resourcePolicy, rq(alice, "kms:Encrypt"), Allow, false, "Keys"},
	{"resource other region", resourcePolicy, withResource(rq(alice, "kms:Encrypt"), "arn:aws:kms:eu-west-1:111122223333:key/k"), NotApplicable, false, ""},
	{"resource case-sensitive", resourcePolicy, withResource(rq(alice, "kms:Encrypt"), "arn:aws:kms:us-east-2:111122223333:KEY/k"), NotApplicable, false, ""},
	{"NotResource outside", resourcePolicy, rq(bob, "kms:Decrypt"), Allow, false, "NotSecret"},
	{"NotResource inside", resourcePolicy, withResource(rq(bob, "kms:Decrypt"), "arn:aws:kms:eu-west-1:111122223333:key/secret-1"), NotApplicable, false, ""},

	// Principals.
	{"bare account ID", stmt(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}`), rq(carol, "kms:Decrypt"), NotApplicable, true, ""},
	{"bare account ID, its root", stmt(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}`), rq("arn:aws:iam::444455556666:root", "kms:Decrypt"), Allow, false, ""},
	{"Principal star", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`), rq(carol, "kms:Decrypt"), Allow, false, ""},
	{"service principal never matches", stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"kms:*","Resource":"*"}`), rq("ec2.amazonaws.com", "kms:Decrypt"), NotApplicable, false, ""},
	{"role with path matches session", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/service-role/EncryptionApp"},"Action":"kms:*","Resource":"*"}`), rq(appSess, "kms:Decrypt"), Allow, false, ""},
	{"named session", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/EncryptionApp/i-0abc"},"Action":"kms:*","Resource":"*"}`), rq(appSess, "kms:Decrypt"), Allow, false, ""},
	{"other session", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/EncryptionApp/other"},"Action":"kms:*","Resource":"*"}`), rq(appSess, "kms:Decrypt"), NotApplicable, false, ""},
	{"Allow NotPrincipal excludes by account", stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`), rq(alice, "kms:Decrypt"), NotApplicable, false, ""},
	{"Allow NotPrincipal others", stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`), rq(carol, "kms:Decrypt"), Allow, false, ""},
	{"Deny naming the account denies its users", stmt(okStmt, `{"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`), rq(alice, "kms:Encrypt"), Deny, false, ""},

	// Policy variables.
	{"variable resolves", variablePolicy, withEC(rq(alice, "kms:Decrypt"), map[string]string{"owner": "alice"}), Allow, false, "Owner"},
	{"variable other user", variablePolicy, withEC(rq(bob, "kms:Decrypt"), map[string]string{"owner": "alice"}), NotApplicable, false, ""},
	{"variable unresolved voids the statement", variablePolicy, withEC(rq(appRole, "kms:Decrypt"), map[string]string{"owner": ""}), NotApplicable, false, ""},
	{"variable from tag", variablePolicy, withEC(rq(appRole, "kms:Encrypt", "aws:PrincipalTag/team", "blue"), map[string]string{"path": "blue/x"}), Allow, false, "Team"},
	{"variable default", variablePolicy, withEC(rq(appRole, "kms:Encrypt"), map[string]string{"path": "shared/x"}), Allow, false, ""},
	{"variable text is literal", variablePolicy, withEC(rq(appRole, "kms:Encrypt", "aws:PrincipalTag/team", "*"), map[string]string{"path": "blue/x"}), NotApplicable, false, ""},
	{"variable text is literal, exact", variablePolicy, withEC(rq(appRole, "kms:Encrypt", "aws:PrincipalTag/team", "*"), map[string]string{"path": "*/x"}), Allow, false, ""},
	{"2008 takes variables literally", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}}}`,
		withEC(rq(alice, "kms:Decrypt"), map[string]string{"owner": "${aws:username}"}), Allow, false, ""},
	{"escape", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"k":"a${*}"}}}`), rq(alice, "kms:Decrypt", "k", "a*"), Allow, false, ""},
	{"escape is not a wildcard", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"k":"a${*}"}}}`), rq(alice, "kms:Decrypt", "k", "ab"), NotApplicable, false, ""},
	{"variable in resource", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms:*:${kms:CallerAccount}:key/*"}`), rq(alice, "kms:Decrypt"), Allow, false, ""},
	{"variable in resource, other account", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms:*:${kms:CallerAccount}:key/*"}`), rq(carol, "kms:Decrypt"), NotApplicable, false, ""},

	// Several statements: the first Deny, else the first Allow, decides.
	{"first allow reported", stmt(`{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`, `{"Sid":"B","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`), rq(alice, "kms:Decrypt"), Allow, false, "A"},
	{"deny after allow", stmt(`{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`, `{"Sid":"B","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`), rq(alice, "kms:Decrypt"), Deny, false, "B"},
	{"direct allow after delegation", stmt(`{"Sid":"A","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`, `{"Sid":"B","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}`), rq(alice, "kms:Decrypt"), Allow, false, "B"},
}

func TestExplain(t *testing.T) {
	for i, tc := range explainCases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.doc)
			got := d.Explain(&tc.req)
			if got.Decision != tc.want || got.Delegated != tc.delegated || (tc.sid != "" && got.Sid != tc.sid) {
				t.Errorf("%d: Explain = %+v; want %v delegated=%v sid=%q", i, got, tc.want, tc.delegated, tc.sid)
			}
			if (got.Statement < 0) != (got.Decision == NotApplicable && !got.Delegated) {
				t.Errorf("%d: Statement = %d for %+v", i, got.Statement, got)
			}
			if got.Statement >= 0 && d.Statements[got.Statement].Sid != got.Sid {
				t.Errorf("%d: Sid %q is not statement %d's", i, got.Sid, got.Statement)
			}
			if ev := d.Evaluate(&tc.req); ev != got.Decision {
				t.Errorf("%d: Evaluate = %v, Explain = %v", i, ev, got.Decision)
			}
			// A hand-built copy (compiled on the fly) answers the same.
			hand := &Document{Version: d.Version, ID: d.ID, Statements: d.Statements}
			if h := hand.Explain(&tc.req); h != got {
				t.Errorf("%d: hand-built document: %+v, parsed: %+v", i, h, got)
			}
		})
	}
}

func TestEvaluateIdentityPolicy(t *testing.T) {
	d := mustParseIdentity(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:*:111122223333:key/*"}]}`)
	for _, tc := range []struct {
		req  Request
		want Decision
	}{
		{rq(alice, "kms:Encrypt"), Allow},
		{rq(carol, "kms:Encrypt"), Allow}, // no Principal: applies to whoever it is attached to
		{rq(alice, "kms:ScheduleKeyDeletion"), NotApplicable},
		{withResource(rq(alice, "kms:Encrypt"), "arn:aws:kms:us-east-2:444455556666:key/k"), NotApplicable},
	} {
		if got := d.Evaluate(&tc.req); got != tc.want {
			t.Errorf("%s %s on %s = %v, want %v", tc.req.Principal, tc.req.Action, tc.req.Resource, got, tc.want)
		}
	}
	for _, bad := range []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*"}}`,
	} {
		if _, err := ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity accepted %s", bad)
		}
	}
	if _, err := Parse(`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`); err == nil {
		t.Error("Parse accepted a key policy without Principal")
	}
}

func TestEvaluateNilAndHandBuilt(t *testing.T) {
	var d *Document
	r := rq(rootARN, "kms:Encrypt")
	if got := d.Explain(&r); got != (Result{Statement: -1}) {
		t.Errorf("nil document: %+v", got)
	}
	// Only a hand-built document can hold these; both fail closed.
	odd := &Document{Statements: []Statement{
		{Effect: "Allow", Principal: &Principals{Any: true}, Action: []string{"*"}, Resource: []string{"*"},
			Condition: map[string]map[string][]string{"StringEqualz": {"k": {"v"}}}},
	}}
	if got := odd.Evaluate(&r); got != NotApplicable {
		t.Errorf("Allow with unknown operator = %v", got)
	}
	odd.Statements[0].Effect = "Deny"
	if got := odd.Evaluate(&r); got != Deny {
		t.Errorf("Deny with unknown operator = %v", got)
	}
	odd.Statements[0].Effect, odd.Statements[0].Condition = "allow", nil
	if got := odd.Evaluate(&r); got != Deny {
		t.Errorf("unknown Effect = %v, want Deny", got)
	}
}

func TestEvaluateConcurrent(t *testing.T) {
	d := mustParse(t, variablePolicy)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				r := withEC(rq(alice, "kms:Decrypt"), map[string]string{"owner": "alice"})
				if got := d.Evaluate(&r); got != Allow {
					t.Errorf("got %v", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDecisionString(t *testing.T) {
	for d, want := range map[Decision]string{NotApplicable: "NotApplicable", Allow: "Allow", Deny: "Deny", 7: "Decision(7)"} {
		if got := d.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", d, got, want)
		}
	}
}
