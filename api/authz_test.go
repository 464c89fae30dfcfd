package api_test

// Authorization end to end: real requests signed by different identities,
// key policies separating administrators from users, explicit Deny,
// encryption-context conditions, and a denied Decrypt that says nothing
// about whether its key exists.

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const (
	adminsPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"}]}`
	usersPolicy  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}`
)

// keyPolicyFor is a key policy in AWS's console style: the account root
// keeps full access (lockout safety), a key administrator and a key user get
// their statements.
func keyPolicyFor(admin, user string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
 {"Sid":"admins","Effect":"Allow","Principal":{"AWS":%q},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},
 {"Sid":"users","Effect":"Allow","Principal":{"AWS":%q},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}`, testAccount, admin, user)
}

func TestAuthz_AdministratorsAndUsers(t *testing.T) {
	n := start(t)
	// Identities with no identity policy: only the key policy speaks.
	admin := testnode.CreateIdentity(t, n, "key-admin", "")
	user := testnode.CreateIdentity(t, n, "key-user", "")
	key := newKey(t, n, &awskms.CreateKeyInput{Policy: aws.String(keyPolicyFor(admin.ARN, user.ARN))})
	id := *key.KeyId

	// The user encrypts and decrypts; it cannot administer.
	out, err := user.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("secret")})
	mustOK(t, "user Encrypt", err)
	_, err = user.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	mustOK(t, "user Decrypt", err)
	before := snapshot(t, n)
	_, err = user.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: i32(7)})
	msg := wantErr(t, err, "AccessDeniedException")
	want := "User: " + user.ARN + " is not authorized to perform: kms:ScheduleKeyDeletion on resource: " + keyARN(id) + " because no resource-based policy allows the kms:ScheduleKeyDeletion action"
	if msg != want {
		t.Errorf("message:\n got %s\nwant %s", msg, want)
	}
	_, err = user.Client.PutKeyPolicy(ctx(t), &awskms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(keyPolicyFor(user.ARN, user.ARN))})
	wantErr(t, err, "AccessDeniedException")
	_, err = user.Client.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &id})
	wantErr(t, err, "AccessDeniedException")
	sameState(t, n, before)

	// The administrator administers; it cannot use the key.
	_, err = admin.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException")
	_, err = admin.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	wantErr(t, err, "AccessDeniedException")
	_, err = admin.Client.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, NumberOfBytes: i32(32)})
	wantErr(t, err, "AccessDeniedException")
	_, err = admin.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
	mustOK(t, "admin DescribeKey", err)
	_, err = admin.Client.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("by the admin")})
	mustOK(t, "admin UpdateKeyDescription", err)
	_, err = admin.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: i32(7)})
	mustOK(t, "admin ScheduleKeyDeletion", err)
	_, err = admin.Client.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &id})
	mustOK(t, "admin CancelKeyDeletion", err)

	// Account-level operations follow the identity policies alone: none.
	_, err = user.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	wantErr(t, err, "AccessDeniedException")
	_, err = user.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
	wantErr(t, err, "AccessDeniedException")
}

func TestAuthz_DelegationToIdentityPolicies(t *testing.T) {
	n := start(t)
	// The default key policy trusts the account: identity policies decide.
	admin := testnode.CreateIdentity(t, n, "role/admins", adminsPolicy)
	user := testnode.CreateIdentity(t, n, "app", usersPolicy)
	nobody := testnode.CreateIdentity(t, n, "nobody", "")

	created, err := admin.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{Description: aws.String("made by an admin")})
	mustOK(t, "admin CreateKey", err)
	id := *created.KeyMetadata.KeyId
	_, err = admin.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantErr(t, err, "AccessDeniedException")

	out, err := user.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	mustOK(t, "user Encrypt", err)
	_, err = user.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: i32(7)})
	msg := wantErr(t, err, "AccessDeniedException")
	if !strings.Contains(msg, "kms:ScheduleKeyDeletion") {
		t.Errorf("message %q does not name the action", msg)
	}
	_, err = nobody.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	wantErr(t, err, "AccessDeniedException")
	_, err = nobody.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
	wantErr(t, err, "AccessDeniedException")
}

func TestAuthz_ExplicitDenyWins(t *testing.T) {
	n := start(t)
	// Allowed by the key policy directly and by its identity policy, denied
	// by one statement of either: denied.
	denyInIdentity := `{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"kms:*","Resource":"*"},
 {"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	u := testnode.CreateIdentity(t, n, "denied-decrypt", denyInIdentity)
	v := testnode.CreateIdentity(t, n, "denied-by-key", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
 {"Effect":"Allow","Principal":{"AWS":[%q,%q]},"Action":"kms:*","Resource":"*"},
 {"Effect":"Deny","Principal":{"AWS":%q},"Action":"kms:Encrypt","Resource":"*"}]}`, testAccount, u.ARN, v.ARN, v.ARN)
	id := *newKey(t, n, &awskms.CreateKeyInput{Policy: aws.String(policy)}).KeyId

	out, err := u.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	mustOK(t, "u Encrypt", err)
	_, err = u.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	wantErr(t, err, "AccessDeniedException")
	_, err = v.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	msg := wantErr(t, err, "AccessDeniedException")
	if !strings.Contains(msg, "explicit deny") {
		t.Errorf("message %q does not say explicit deny", msg)
	}
	_, err = v.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	mustOK(t, "v Decrypt", err)
	// Not even the operator credential passes an explicit Deny that names it.
	denyAll := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"},
 {"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}`, testAccount)
	_, err = n.Client.PutKeyPolicy(ctx(t), &awskms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(denyAll)})
	mustOK(t, "PutKeyPolicy", err)
	_, err = n.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
	wantErr(t, err, "AccessDeniedException")
}

func TestAuthz_EncryptionContextCondition(t *testing.T) {
	n := start(t)
	cond := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
 "Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"blue"}}}]}`
	u := testnode.CreateIdentity(t, n, "tenant-blue", cond)
	id := newKeyID(t, n)
	blue := map[string]string{"tenant": "blue"}
	out, err := u.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), EncryptionContext: blue})
	mustOK(t, "Encrypt with the matching context", err)
	_, err = u.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: blue})
	mustOK(t, "Decrypt with the matching context", err)
	for _, ec := range []map[string]string{nil, {"tenant": "red"}, {"other": "blue"}} {
		_, err = u.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x"), EncryptionContext: ec})
		wantErr(t, err, "AccessDeniedException")
	}
	// A context the blob was not made with: the caller may not use it.
	_, err = u.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "red"}})
	wantErr(t, err, "AccessDeniedException")
}

func TestAuthz_DeniedDecryptRevealsNothing(t *testing.T) {
	n := start(t)
	nobody := testnode.CreateIdentity(t, n, "nobody", "")
	id := newKeyID(t, n)
	blob := encrypt(t, n, id, []byte("x"), nil)
	_, errExisting := nobody.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob})
	msgExisting := wantErr(t, errExisting, "AccessDeniedException")

	// The same blob shape naming a key that does not exist.
	other := newKeyID(t, n)
	blob2 := encrypt(t, n, other, []byte("x"), nil)
	_, err := n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &other, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	_, errMissing := nobody.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob2})
	msgMissing := wantErr(t, errMissing, "AccessDeniedException")
	strip := func(s string) string { return strings.NewReplacer(id, "K", other, "K").Replace(s) }
	if strip(msgExisting) != strip(msgMissing) {
		t.Errorf("a denied Decrypt differs by key:\n%s\n%s", msgExisting, msgMissing)
	}
}

func TestAuthz_LockoutSafetyCheck(t *testing.T) {
	n := start(t)
	u := testnode.CreateIdentity(t, n, "policy-admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	id := *newKey(t, n, &awskms.CreateKeyInput{Policy: aws.String(keyPolicyFor(u.ARN, u.ARN))}).KeyId
	// A policy that no longer lets the caller put a policy is refused...
	lockout := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/someone-else"},"Action":"kms:*","Resource":"*"}]}`, testAccount)
	_, err := u.Client.PutKeyPolicy(ctx(t), &awskms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(lockout)})
	wantErr(t, err, "MalformedPolicyDocumentException")
	_, err = u.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{Policy: aws.String(lockout)})
	wantErr(t, err, "MalformedPolicyDocumentException")
	// ...unless the caller bypasses the check, as AWS allows.
	_, err = u.Client.PutKeyPolicy(ctx(t), &awskms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(lockout), BypassPolicyLockoutSafetyCheck: true})
	mustOK(t, "PutKeyPolicy with the bypass", err)
	_, err = u.Client.PutKeyPolicy(ctx(t), &awskms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(keyPolicyFor(u.ARN, u.ARN))})
	wantErr(t, err, "AccessDeniedException")
}

func TestAuthz_IdentityAdministrationIsScoped(t *testing.T) {
	n := start(t)
	call := func(id testnode.Identity, op string, in map[string]any) error {
		return testnode.OperatorCall(ctx(t), n.URL(), testRegion, id.AccessKeyID, id.Secret, op, in, nil)
	}
	wantDenied := func(what string, err error) {
		t.Helper()
		var oe *testnode.OperatorError
		if !errors.As(err, &oe) || oe.Type != "AccessDeniedException" {
			t.Errorf("%s: %v, want AccessDeniedException", what, err)
		}
	}
	testnode.CreateIdentity(t, n, "admin", "")
	// A helpdesk may administer every identity but the admin.
	helpdesk := testnode.CreateIdentity(t, n, "helpdesk", fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"kmsnode:*","Resource":"*"},
 {"Effect":"Deny","Action":"kmsnode:*","Resource":"arn:aws:iam::%s:user/admin"}]}`, testAccount))
	testnode.CreateIdentity(t, n, "app", "")
	wantDenied("PutIdentityPolicy on the admin", call(helpdesk, "PutIdentityPolicy", map[string]any{"Identity": "admin", "PolicyName": "x", "PolicyDocument": `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`}))
	wantDenied("CreateAccessKey for the admin", call(helpdesk, "CreateAccessKey", map[string]any{"Identity": "admin"}))
	mustOK(t, "CreateAccessKey for the app", call(helpdesk, "CreateAccessKey", map[string]any{"Identity": "app"}))

	// Even with kmsnode:* everywhere, no one but the root gets a root key.
	wantDenied("CreateAccessKey for root", call(helpdesk, "CreateAccessKey", map[string]any{"Identity": "root"}))

	// A user allowed to manage only its own keys (${aws:username}).
	self := testnode.CreateIdentity(t, n, "self", fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["kmsnode:CreateAccessKey","kmsnode:DeleteAccessKey"],"Resource":"arn:aws:iam::%s:user/${aws:username}"}]}`, testAccount))
	var out struct{ AccessKey struct{ AccessKeyId string } }
	mustOK(t, "CreateAccessKey for oneself", testnode.OperatorCall(ctx(t), n.URL(), testRegion, self.AccessKeyID, self.Secret, "CreateAccessKey", map[string]any{"Identity": "self"}, &out))
	wantDenied("CreateAccessKey for another", call(self, "CreateAccessKey", map[string]any{"Identity": "app"}))
	mustOK(t, "DeleteAccessKey of one's own", call(self, "DeleteAccessKey", map[string]any{"AccessKeyId": out.AccessKey.AccessKeyId}))
	// Describing oneself needs no permission.
	mustOK(t, "GetIdentity of oneself", call(self, "GetIdentity", map[string]any{}))
	wantDenied("GetIdentity of another", call(self, "GetIdentity", map[string]any{"Identity": "app"}))
	// The operator credential's name cannot be taken by a new identity.
	if err := testnode.OperatorCall(ctx(t), n.URL(), testRegion, node.DevAccessKeyID, node.DevSecretAccessKey, "CreateIdentity", map[string]any{"Identity": "kmsnode-dev"}, nil); err == nil {
		t.Error("an identity was created under the operator credential's principal")
	}
}

func TestAuthz_NoLeakBeforeAuthorization(t *testing.T) {
	n := start(t)
	nobody := testnode.CreateIdentity(t, n, "nobody", "")
	id := newKeyID(t, n)
	blob := encrypt(t, n, id, []byte("x"), nil)
	gone := newKeyID(t, n)
	blob2 := encrypt(t, n, gone, []byte("x"), nil)
	_, err := n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &gone, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	// A missing key named in KeyId, or a bad grant token, answers like an
	// existing key's denial.
	missing := "11111111-2222-3333-4444-555555555555"
	for name, in := range map[string]*awskms.DecryptInput{
		"KeyId of a missing key":  {CiphertextBlob: blob, KeyId: &missing},
		"KeyId of a deleted key":  {CiphertextBlob: blob2, KeyId: &gone},
		"bad token, existing key": {CiphertextBlob: blob, GrantTokens: []string{"not-a-token"}},
		"bad token, missing key":  {CiphertextBlob: blob2, GrantTokens: []string{"not-a-token"}},
	} {
		_, err := nobody.Client.Decrypt(ctx(t), in)
		if msg := wantErr(t, err, "AccessDeniedException"); !strings.Contains(msg, "because no resource-based policy allows the kms:Decrypt action") {
			t.Errorf("%s: %s", name, msg)
		}
	}
	// CreateGrant validates against the key only for a caller allowed to.
	_, err = nobody.Client.CreateGrant(ctx(t), &awskms.CreateGrantInput{KeyId: &id, GranteePrincipal: aws.String(nobody.ARN), Operations: []types.GrantOperation{"Sign"}})
	wantErr(t, err, "AccessDeniedException")
	// CreateKey with tags needs kms:TagResource too.
	maker := testnode.CreateIdentity(t, n, "maker", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}]}`)
	_, err = maker.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{})
	mustOK(t, "CreateKey without tags", err)
	_, err = maker.Client.CreateKey(ctx(t), &awskms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
	wantErr(t, err, "AccessDeniedException")
}
