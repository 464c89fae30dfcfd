package policy

import "testing"

// identity policies used by the Authorize cases.
var (
	idEncrypt     = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"arn:aws:kms:us-east-2:111122223333:key/*"}}`
	idAll         = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`
	idDenyDecrypt = `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}`
	idOtherKey    = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-2:111122223333:key/other"}}`
	idCreateKey   = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}}`
)

// keyPolicyNoRoot names alice and bob directly and never delegates to IAM.
var keyPolicyNoRoot = stmt(`{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::444455556666:user/carol"]},"Action":"kms:Decrypt","Resource":"*"}`)

// keyPolicyCrossAccount delegates to another account, as AWS's "allowing
// users in other accounts to use a KMS key" example does.
var keyPolicyCrossAccount = stmt(`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`,
	`{"Sid":"External","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}`)

var keyPolicyDeny = stmt(`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`,
	`{"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}`)

func TestAuthorize(t *testing.T) {
	cases := []struct {
		name     string
		key      string // "" for no key policy
		identity []string
		req      Request
		want     Decision
	}{
		{"default policy, IAM allows", defaultPolicy, []string{idEncrypt}, rq(alice, "kms:Encrypt"), Allow},
		{"default policy, IAM silent", defaultPolicy, nil, rq(alice, "kms:Encrypt"), NotApplicable},
		{"default policy, IAM allows other action", defaultPolicy, []string{idEncrypt}, rq(alice, "kms:ScheduleKeyDeletion"), NotApplicable},
		{"default policy, IAM allows other key", defaultPolicy, []string{idOtherKey}, rq(alice, "kms:Encrypt"), NotApplicable},
		{"default policy, one of several allows", defaultPolicy, []string{idOtherKey, idEncrypt}, rq(alice, "kms:Encrypt"), Allow},
		{"default policy, IAM denies", defaultPolicy, []string{idAll, idDenyDecrypt}, rq(alice, "kms:Decrypt"), Deny},
		{"default policy, root needs no IAM", defaultPolicy, nil, rq(rootARN, "kms:ScheduleKeyDeletion"), Allow},
		{"default policy, other account", defaultPolicy, []string{idAll}, rq(carol, "kms:Encrypt"), NotApplicable},
		{"nil identity policies skipped", defaultPolicy, []string{"", idEncrypt}, rq(alice, "kms:Encrypt"), Allow},

		{"direct allow needs no IAM", keyPolicyNoRoot, nil, rq(alice, "kms:Decrypt"), Allow},
		{"no delegation: IAM alone is not enough", keyPolicyNoRoot, []string{idAll}, rq(bob, "kms:Decrypt"), NotApplicable},
		{"direct allow, IAM deny wins", keyPolicyNoRoot, []string{idDenyDecrypt}, rq(alice, "kms:Decrypt"), Deny},
		{"cross-account direct, no IAM", keyPolicyNoRoot, nil, rq(carol, "kms:Decrypt"), NotApplicable},
		{"cross-account direct, IAM allows", keyPolicyNoRoot, []string{idAll}, rq(carol, "kms:Decrypt"), Allow},

		{"cross-account delegated, IAM allows", keyPolicyCrossAccount, []string{idAll}, rq(carol, "kms:Encrypt"), Allow},
		{"cross-account delegated, IAM silent", keyPolicyCrossAccount, nil, rq(carol, "kms:Encrypt"), NotApplicable},
		{"cross-account delegated, action not delegated", keyPolicyCrossAccount, []string{idAll}, rq(carol, "kms:ScheduleKeyDeletion"), NotApplicable},
		{"cross-account root", keyPolicyCrossAccount, nil, rq("arn:aws:iam::444455556666:root", "kms:Decrypt"), Allow},

		{"key policy deny beats root", keyPolicyDeny, nil, rq(rootARN, "kms:ScheduleKeyDeletion"), Deny},
		{"key policy deny beats IAM", keyPolicyDeny, []string{idAll}, rq(alice, "kms:ScheduleKeyDeletion"), Deny},
		{"key policy deny elsewhere", keyPolicyDeny, []string{idAll}, rq(alice, "kms:Encrypt"), Allow},

		{"no key: IAM allows CreateKey", "", []string{idCreateKey}, withResource(rq(alice, "kms:CreateKey"), "*"), Allow},
		{"no key: IAM silent", "", []string{idEncrypt}, withResource(rq(alice, "kms:CreateKey"), "*"), NotApplicable},
		{"no key: root", "", nil, withResource(rq(rootARN, "kms:CreateKey"), "*"), Allow},
		{"no key: IAM deny", "", []string{idAll, idDenyDecrypt}, withResource(rq(alice, "kms:Decrypt"), "*"), Deny},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var key *Document
			if tc.key != "" {
				key = mustParse(t, tc.key)
			}
			var ids []*Document
			for _, s := range tc.identity {
				if s == "" {
					ids = append(ids, nil)
					continue
				}
				ids = append(ids, mustParseIdentity(t, s))
			}
			if got := Authorize(key, ids, &tc.req); got != tc.want {
				t.Errorf("%d: Authorize = %v, want %v", i, got, tc.want)
			}
		})
	}
}

func TestLockoutSafe(t *testing.T) {
	adminsOnly := stmt(`{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/KMSAdminRole"},"Action":["kms:Create*","kms:Put*","kms:Describe*"],"Resource":"*"}`,
		`{"Sid":"Users","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/EncryptionApp"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`)
	fromNetwork := stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}`)
	cases := []struct {
		name string
		doc  string
		req  Request
		want bool
	}{
		{"default policy, user (through IAM)", defaultPolicy, rq(alice, "kms:CreateKey"), true},
		{"default policy, root", defaultPolicy, rq(rootARN, "kms:CreateKey"), true},
		{"default policy, role session", defaultPolicy, rq(appSess, "kms:CreateKey"), true},
		{"admin policy, admin", adminsOnly, rq(admin, "kms:CreateKey"), true},
		{"admin policy, key user locked out", adminsOnly, rq(appRole, "kms:PutKeyPolicy"), false},
		{"admin policy, root locked out", adminsOnly, rq(rootARN, "kms:PutKeyPolicy"), false},
		{"admin and user policy with root", keyAdminUserPolicy, rq(appRole, "kms:PutKeyPolicy"), true},
		{"only Encrypt allowed", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Encrypt","Resource":"*"}`), rq(alice, "kms:CreateKey"), false},
		{"another account only", stmt(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:*","Resource":"*"}`), rq(alice, "kms:CreateKey"), false},
		{"PutKeyPolicy denied", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`,
			`{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}`), rq(rootARN, "kms:CreateKey"), false},
		{"condition met by this call", fromNetwork, rq(alice, "kms:CreateKey", "aws:SourceIp", "192.0.2.1"), true},
		{"condition not met by this call", fromNetwork, rq(alice, "kms:CreateKey", "aws:SourceIp", "203.0.113.1"), false},
		{"condition key absent", fromNetwork, rq(alice, "kms:CreateKey"), false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			if got := LockoutSafe(mustParse(t, tc.doc), &r); got != tc.want {
				t.Errorf("%d: LockoutSafe = %v, want %v", i, got, tc.want)
			}
			if r.Action != tc.req.Action {
				t.Errorf("%d: LockoutSafe changed the request", i)
			}
		})
	}
	if LockoutSafe(nil, &Request{Principal: rootARN}) {
		t.Error("a nil document is lockout-safe")
	}
}

func TestMatchPrincipal(t *testing.T) {
	for _, tc := range []struct {
		named, caller string
		want          bool
	}{
		{alice, alice, true},
		{alice, bob, false},
		{appRole, appSess, true},
		{"arn:aws:iam::111122223333:role/path/EncryptionApp", appSess, true},
		{appRole, "arn:aws:sts::444455556666:assumed-role/EncryptionApp/s", false},
		{"arn:aws-cn:iam::111122223333:role/EncryptionApp", appSess, false},
		{rootARN, alice, false}, // an account root is not every identity of the account here
		{acct, rootARN, false},
		{"", "", false},
		{"*", alice, false},
	} {
		if got := MatchPrincipal(tc.named, tc.caller); got != tc.want {
			t.Errorf("MatchPrincipal(%q, %q) = %v, want %v", tc.named, tc.caller, got, tc.want)
		}
	}
}
