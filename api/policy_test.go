package api_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// awsDefaultPolicy is the default key policy AWS KMS gives a key created
// without one, for account 111122223333.
const awsDefaultPolicy = `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`

func sameJSON(t testing.TB, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("policy is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("policy\n%s\nwant\n%s", got, want)
	}
}

func TestKeyPolicy(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)

	// The default policy, with and without PolicyName.
	for _, name := range []*string{nil, aws.String("default")} {
		out, err := c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id, PolicyName: name})
		mustOK(t, "GetKeyPolicy", err)
		sameJSON(t, aws.ToString(out.Policy), awsDefaultPolicy)
		if aws.ToString(out.PolicyName) != "default" {
			t.Errorf("PolicyName %q", aws.ToString(out.PolicyName))
		}
	}

	lp, err := c.ListKeyPolicies(ctx(t), &awskms.ListKeyPoliciesInput{KeyId: &id})
	mustOK(t, "ListKeyPolicies", err)
	if !slices.Equal(lp.PolicyNames, []string{"default"}) || lp.Truncated {
		t.Errorf("ListKeyPolicies %v truncated %v", lp.PolicyNames, lp.Truncated)
	}

	// PutKeyPolicy stores the document verbatim (by key ARN, with and
	// without PolicyName, with the lockout bypass flag).
	docs := []string{
		`{"Version":"2012-10-17","Statement":[{"Sid":"one","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`,
		`{
  "Version": "2012-10-17",
  "Id": "custom",
  "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": ["111122223333", "arn:aws:iam::111122223333:role/app"]}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
     "Condition": {"StringEquals": {"kms:EncryptionContext:app": "x"}}},
    {"Effect": "Deny", "Principal": "*", "NotAction": "kms:Describe*", "Resource": "*"}
  ]
}`,
	}
	for i, doc := range docs {
		in := &awskms.PutKeyPolicyInput{KeyId: aws.String(keyARN(id)), Policy: aws.String(doc), BypassPolicyLockoutSafetyCheck: i == 1}
		if i == 0 {
			in.PolicyName = aws.String("default")
		}
		_, err := c.PutKeyPolicy(ctx(t), in)
		mustOK(t, "PutKeyPolicy", err)
		out, err := c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id})
		if i == 1 {
			// The second policy denies everything but Describe*, to
			// everyone, and allows only Encrypt/Decrypt under a
			// condition: it is enforced at once.
			wantErr(t, err, "AccessDeniedException")
			_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
			wantErr(t, err, "AccessDeniedException")
			_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
			wantErr(t, err, "AccessDeniedException")
			continue
		}
		mustOK(t, "GetKeyPolicy", err)
		if aws.ToString(out.Policy) != doc {
			t.Errorf("GetKeyPolicy returned\n%s\nwant\n%s", aws.ToString(out.Policy), doc)
		}
	}
}

func TestListGrantsEmpty(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	for _, ref := range []string{id, keyARN(id)} {
		out, err := n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &ref})
		mustOK(t, "ListGrants", err)
		if len(out.Grants) != 0 || out.Truncated || out.NextMarker != nil {
			t.Errorf("ListGrants %s", jsonOf(out.Grants))
		}
	}
	// On the wire the list is present and empty, not absent.
	r := rawCall(t, n, "ListGrants", []byte(`{"KeyId":"`+id+`"}`), rawOpts{})
	var m map[string]json.RawMessage
	if r.Status != 200 || json.Unmarshal(r.Body, &m) != nil || string(m["Grants"]) != "[]" || string(m["Truncated"]) != "false" {
		t.Errorf("raw ListGrants: %s", r)
	}
	_, err := n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: aws.String("alias/none")})
	wantErr(t, err, "NotFoundException")
	_, err = n.Client.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: aws.String("6a3e2c9b-0000-4000-8000-000000000000")})
	wantErr(t, err, "NotFoundException")
}
