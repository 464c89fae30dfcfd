package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// keyAdminUserPolicy is the console-style key policy from the AWS KMS
// developer guide that separates key administrators from key users.
const keyAdminUserPolicy = `{
  "Id": "key-consolepolicy-3",
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow access for Key Administrators",
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::111122223333:role/KMSAdminRole"]},
      "Action": [
        "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
        "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
        "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"
      ],
      "Resource": "*"
    },
    {
      "Sid": "Allow use of the key",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/EncryptionApp"},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*"
    },
    {
      "Sid": "Allow attachment of persistent resources",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:role/EncryptionApp"},
      "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
      "Resource": "*",
      "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}}
    }
  ]
}`

// stmt wraps statement bodies into a 2012-10-17 document.
func stmt(bodies ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(bodies, ",") + `]}`
}

// okStmt is a minimal valid statement body, spliced into other test docs.
const okStmt = `{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Encrypt","Resource":"*"}`

var validDocs = []struct {
	name  string
	doc   string
	check func(t *testing.T, d *Document)
}{
	{"aws default", DefaultKeyPolicy("aws", "111122223333"), func(t *testing.T, d *Document) {
		st := d.Statements[0]
		if d.Version != Version2012 || d.ID != "key-default-1" || len(d.Statements) != 1 ||
			st.Sid != "Enable IAM User Permissions" || st.Effect != EffectAllow ||
			!slices.Equal(st.Principal.AWS, []string{"arn:aws:iam::111122223333:root"}) ||
			!slices.Equal(st.Action, []string{"kms:*"}) || !slices.Equal(st.Resource, []string{"*"}) {
			t.Errorf("got %+v", d)
		}
	}},
	{"key admin and key user separation", keyAdminUserPolicy, func(t *testing.T, d *Document) {
		if len(d.Statements) != 4 || len(d.Statements[1].Action) != 15 {
			t.Fatalf("got %d statements", len(d.Statements))
		}
		if got := d.Statements[3].Condition["Bool"]["kms:GrantIsForAWSResource"]; !slices.Equal(got, []string{"true"}) {
			t.Errorf("Bool condition = %q, want [true]", got)
		}
	}},
	{"encryption context condition", stmt(`{"Sid":"Allow use for Finance","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::111122223333:role/App"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
		"Condition":{"StringEquals":{"kms:EncryptionContext:Department":"Finance","kms:EncryptionContext:Cost Centre":"42","kms:EncryptionContext:Project":["a","b"]}}}`),
		func(t *testing.T, d *Document) {
			c := d.Statements[0].Condition["StringEquals"]
			if !slices.Equal(c["kms:EncryptionContext:Department"], []string{"Finance"}) ||
				!slices.Equal(c["kms:EncryptionContext:Project"], []string{"a", "b"}) {
				t.Errorf("condition = %q", c)
			}
		}},
	{"single statement object and single strings", `{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}`,
		func(t *testing.T, d *Document) {
			st := d.Statements[0]
			if d.Version != "" || d.ID != "" || len(d.Statements) != 1 || st.Principal == nil || !st.Principal.Any || st.Condition != nil {
				t.Errorf("got %+v", d)
			}
		}},
	{"NotAction", stmt(`{"Effect":"Deny","Principal":{"AWS":"*"},"NotAction":["kms:Describe*","kms:Get*"],"Resource":"*"}`),
		func(t *testing.T, d *Document) {
			st := d.Statements[0]
			if st.Action != nil || !slices.Equal(st.NotAction, []string{"kms:Describe*", "kms:Get*"}) || !slices.Equal(st.Principal.AWS, []string{"*"}) {
				t.Errorf("got %+v", st)
			}
		}},
	{"NotPrincipal", stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:sts::111122223333:assumed-role/Admin/alice"]},"Action":"kms:*","Resource":"*"}`),
		func(t *testing.T, d *Document) {
			st := d.Statements[0]
			if st.Principal != nil || st.NotPrincipal == nil || len(st.NotPrincipal.AWS) != 2 {
				t.Errorf("got %+v", st)
			}
		}},
	{"NotResource and other principal types", stmt(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com","Federated":["cognito-identity.amazonaws.com"],"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
		"Action":"*","NotResource":"arn:aws:kms:*:111122223333:key/*"}`),
		func(t *testing.T, d *Document) {
			p := d.Statements[0].Principal
			if p.Any || len(p.Service) != 1 || len(p.Federated) != 1 || len(p.CanonicalUser) != 1 || d.Statements[0].NotResource == nil {
				t.Errorf("got %+v", p)
			}
		}},
	{"numbers and mixed values stringified", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
		"Condition":{"NumericLessThan":{"kms:RecipientAttestation:Index":1.50},"StringEquals":{"kms:CallerAccount":["111122223333",12,false,-3e2]},
		"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["Department","Project"]},"StringLikeIfExists":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},
		"Null":{"kms:EncryptionContext:Department":"false"},"ForAllValues:StringNotEqualsIgnoreCaseIfExists":{"kms:EncryptionContextKeys":[]}}}`),
		func(t *testing.T, d *Document) {
			c := d.Statements[0].Condition
			if !slices.Equal(c["NumericLessThan"]["kms:RecipientAttestation:Index"], []string{"1.50"}) ||
				!slices.Equal(c["StringEquals"]["kms:CallerAccount"], []string{"111122223333", "12", "false", "-3e2"}) ||
				len(c) != 6 {
				t.Errorf("condition = %q", c)
			}
		}},
	{"2008 version, Id, empty condition, whitespace", "{\r\n\t\"Version\" : \"2008-10-17\",\n\"Id\":\"clé-1\",\"Statement\" :[ {\"Sid\":\"\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws-cn:iam::111122223333:user/bob\"},\"Action\":\"kms:Encrypt\",\"Resource\":[\"*\"],\"Condition\":{}} ]\n}\n",
		func(t *testing.T, d *Document) {
			if d.Version != Version2008 || d.ID != "clé-1" || d.Statements[0].Condition == nil {
				t.Errorf("got %+v", d)
			}
		}},
	{"two statements without Sid", stmt(okStmt, okStmt), nil},
	{"duplicate key: last one wins", stmt(`{"Effect":"Deny","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`),
		func(t *testing.T, d *Document) {
			if d.Statements[0].Effect != EffectAllow {
				t.Errorf("Effect = %q, want the last value", d.Statements[0].Effect)
			}
		}},
	{"escaped characters", stmt(`{"Sid":"A\u0042c","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/a\/b"},"Action":"kms:Encrypt","Resource":"*"}`),
		func(t *testing.T, d *Document) {
			if st := d.Statements[0]; st.Sid != "ABc" || st.Principal.AWS[0] != "arn:aws:iam::111122223333:role/a/b" {
				t.Errorf("got %+v", st)
			}
		}},
}

func TestParseValid(t *testing.T) {
	for i, tc := range validDocs {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.doc)
			if err != nil {
				t.Fatalf("%d: Parse: %v", i, err)
			}
			checkInvariants(t, d)
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

var malformedDocs = []struct{ name, doc string }{
	{"empty", ""},
	{"blank", "  \n"},
	{"null", "null"},
	{"array", "[]"},
	{"string", `"policy"`},
	{"truncated", `{"Statement":[`},
	{"trailing data", stmt(okStmt) + ` {}`},
	{"no Statement", `{"Version":"2012-10-17"}`},
	{"unknown top-level element", `{"Version":"2012-10-17","Statement":[` + okStmt + `],"Comment":"x"}`},
	{"lower-case element", `{"statement":[` + okStmt + `]}`},
	{"bad Version", `{"Version":"2020-01-01","Statement":[` + okStmt + `]}`},
	{"numeric Version", `{"Version":2012,"Statement":[` + okStmt + `]}`},
	{"numeric Id", `{"Id":1,"Statement":[` + okStmt + `]}`},
	{"null Id", `{"Id":null,"Statement":[` + okStmt + `]}`},
	{"Statement string", `{"Statement":"x"}`},
	{"Statement null", `{"Statement":null}`},
	{"Statement empty array", `{"Statement":[]}`},
	{"Statement array of null", `{"Statement":[null]}`},
	{"Statement array of string", `{"Statement":["x"]}`},
	{"no Effect", stmt(`{"Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"lower-case Effect", stmt(`{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"unknown Effect", stmt(`{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"boolean Effect", stmt(`{"Effect":true,"Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"no principal", stmt(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)},
	{"Principal and NotPrincipal", stmt(`{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}`)},
	{"Principal ARN string", stmt(`{"Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"kms:*","Resource":"*"}`)},
	{"Principal empty object", stmt(`{"Effect":"Allow","Principal":{},"Action":"kms:*","Resource":"*"}`)},
	{"Principal null", stmt(`{"Effect":"Allow","Principal":null,"Action":"kms:*","Resource":"*"}`)},
	{"Principal array", stmt(`{"Effect":"Allow","Principal":["*"],"Action":"kms:*","Resource":"*"}`)},
	{"Principal AWS empty array", stmt(`{"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*"}`)},
	{"Principal AWS number", stmt(`{"Effect":"Allow","Principal":{"AWS":111122223333},"Action":"kms:*","Resource":"*"}`)},
	{"Principal AWS null element", stmt(`{"Effect":"Allow","Principal":{"AWS":[null]},"Action":"kms:*","Resource":"*"}`)},
	{"Principal unknown type", stmt(`{"Effect":"Allow","Principal":{"IAM":"111122223333"},"Action":"kms:*","Resource":"*"}`)},
	{"Principal not an ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*","Resource":"*"}`)},
	{"Principal short account", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::12345:root"},"Action":"kms:*","Resource":"*"}`)},
	{"Principal 13-digit account ID", stmt(`{"Effect":"Allow","Principal":{"AWS":"1111222233334"},"Action":"kms:*","Resource":"*"}`)},
	{"Principal wildcard in ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}`)},
	{"Principal space in ARN", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/a b"},"Action":"kms:*","Resource":"*"}`)},
	{"Principal empty Service", stmt(`{"Effect":"Allow","Principal":{"Service":""},"Action":"kms:*","Resource":"*"}`)},
	{"no action", stmt(`{"Effect":"Allow","Principal":"*","Resource":"*"}`)},
	{"Action and NotAction", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}`)},
	{"Action empty array", stmt(`{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}`)},
	{"Action without service", stmt(`{"Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*"}`)},
	{"Action empty name", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:","Resource":"*"}`)},
	{"Action empty service", stmt(`{"Effect":"Allow","Principal":"*","Action":":Encrypt","Resource":"*"}`)},
	{"Action with space", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt Decrypt","Resource":"*"}`)},
	{"Action bad character", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:En$crypt","Resource":"*"}`)},
	{"Action number", stmt(`{"Effect":"Allow","Principal":"*","Action":5,"Resource":"*"}`)},
	{"Action array of number", stmt(`{"Effect":"Allow","Principal":"*","Action":["kms:Encrypt",5],"Resource":"*"}`)},
	{"Action object", stmt(`{"Effect":"Allow","Principal":"*","Action":{"kms":"Encrypt"},"Resource":"*"}`)},
	{"no resource", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*"}`)},
	{"Resource and NotResource", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","NotResource":"*"}`)},
	{"Resource not an ARN", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/1234"}`)},
	{"Resource short ARN", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"arn:aws:kms"}`)},
	{"Resource empty array", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":[]}`)},
	{"Condition string", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":"x"}`)},
	{"Condition null", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":null}`)},
	{"Condition operator not object", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":"x"}}`)},
	{"Condition unknown operator", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}`)},
	{"Condition lower-case operator", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"stringEquals":{"k":"v"}}}`)},
	{"Condition NullIfExists", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"k":"true"}}}`)},
	{"Condition ForAnyValue:Null", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:Null":{"k":"true"}}}`)},
	{"Condition unknown set qualifier", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"k":"v"}}}`)},
	{"Condition bare IfExists", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IfExists":{"k":"v"}}}`)},
	{"Condition value object", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":{"a":"b"}}}}`)},
	{"Condition value null", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":null}}}`)},
	{"Condition nested array", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"k":[["v"]]}}}`)},
	{"Condition key with control character", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:a\u0001":"v"}}}`)},
	{"Condition empty key", stmt(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"":"v"}}}`)},
	{"duplicate Sid", stmt(`{"Sid":"A","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`, `{"Sid":"A","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"Sid with hyphen", stmt(`{"Sid":"Allow-all","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"numeric Sid", stmt(`{"Sid":1,"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"unknown statement element", stmt(`{"Effect":"Allow","Principals":"*","Action":"kms:*","Resource":"*"}`)},
	{"lower-case statement element", stmt(`{"effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`)},
	{"control character", stmt(okStmt) + "\x01"},
	{"NUL byte", "{\x00}"},
	{"character above U+00FF", `{"Id":"中","Statement":[` + okStmt + `]}`},
	{"invalid UTF-8", "{\"Id\":\"\xff\",\"Statement\":[" + okStmt + "]}"},
	{"too large", stmt(okStmt) + strings.Repeat(" ", MaxSize)},
}

func TestParseMalformed(t *testing.T) {
	for i, tc := range malformedDocs {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse(tc.doc)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%d: Parse = %+v, %v; want ErrMalformed", i, d, err)
			}
			if d != nil {
				t.Errorf("%d: Parse returned a document with an error", i)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "policy: ") || msg == ErrMalformed.Error() {
				t.Errorf("%d: error %q lacks the prefix or a reason", i, msg)
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	base := stmt(okStmt)
	if _, err := Parse(base + strings.Repeat(" ", MaxSize-len(base))); err != nil {
		t.Errorf("exactly MaxSize characters: %v", err)
	}
	_, err := Parse(base + strings.Repeat(" ", MaxSize-len(base)+1))
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) {
		t.Errorf("MaxSize+1 characters: err = %v, want ErrTooLarge and ErrMalformed", err)
	}
	// Size counts characters, not bytes: "é" is two bytes of UTF-8.
	pre, post := `{"Id":"`, `","Statement":[`+okStmt+`]}`
	latin := pre + strings.Repeat("é", MaxSize-len(pre)-len(post)) + post
	if _, err := Parse(latin); err != nil {
		t.Errorf("MaxSize Latin-1 characters (%d bytes): %v", len(latin), err)
	}
	if _, err := Parse(strings.Repeat("é", 2*MaxSize)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge input: err = %v, want ErrTooLarge", err)
	}
}

func TestParseErrorIsDeterministic(t *testing.T) {
	doc := stmt(`{"Effect":"Permit","Principal":{"AWS":"bad"},"Action":"bad","Resource":"bad","Zed":1}`)
	_, first := Parse(doc)
	for range 20 {
		if _, err := Parse(doc); err.Error() != first.Error() {
			t.Fatalf("error changed between runs: %q vs %q", first, err)
		}
	}
}

func TestParseOperator(t *testing.T) {
	op, ok := parseOperator("ForAnyValue:StringLikeIfExists")
	if want := (operator{set: "ForAnyValue", base: "StringLike", ifExists: true}); !ok || op != want {
		t.Errorf("parseOperator = %+v, %v; want %+v", op, ok, want)
	}
	for _, bad := range []string{"", "IfExists", "ForAllValues:", ":StringEquals", "StringEquals:", "ForAnyValue:ForAnyValue:StringEquals", "StringEqualsIfExistsIfExists"} {
		if _, ok := parseOperator(bad); ok {
			t.Errorf("parseOperator(%q) accepted", bad)
		}
	}
}

// checkInvariants asserts what Parse promises about every document it
// returns.
func checkInvariants(t *testing.T, d *Document) {
	t.Helper()
	if d.Version != "" && d.Version != Version2012 && d.Version != Version2008 {
		t.Errorf("Version %q", d.Version)
	}
	if len(d.Statements) == 0 {
		t.Fatalf("no statements")
	}
	sids := map[string]bool{}
	for i, st := range d.Statements {
		if st.Effect != EffectAllow && st.Effect != EffectDeny {
			t.Errorf("Statement[%d]: Effect %q", i, st.Effect)
		}
		if (st.Principal == nil) == (st.NotPrincipal == nil) {
			t.Errorf("Statement[%d]: want exactly one of Principal/NotPrincipal", i)
		}
		if (len(st.Action) == 0) == (len(st.NotAction) == 0) {
			t.Errorf("Statement[%d]: want exactly one of Action/NotAction", i)
		}
		if (len(st.Resource) == 0) == (len(st.NotResource) == 0) {
			t.Errorf("Statement[%d]: want exactly one of Resource/NotResource", i)
		}
		for _, p := range []*Principals{st.Principal, st.NotPrincipal} {
			if p != nil && !p.Any && len(p.AWS)+len(p.Service)+len(p.Federated)+len(p.CanonicalUser) == 0 {
				t.Errorf("Statement[%d]: empty principals", i)
			}
		}
		for op := range st.Condition {
			if _, ok := parseOperator(op); !ok {
				t.Errorf("Statement[%d]: operator %q", i, op)
			}
		}
		if st.Sid != "" {
			if sids[st.Sid] {
				t.Errorf("Statement[%d]: duplicate Sid %q", i, st.Sid)
			}
			sids[st.Sid] = true
		}
	}
}
