package api_test

// Authorization end to end: real requests signed by different identities,
// key policies separating administrators from users, explicit Deny,
// encryption-context conditions, and a denied Decrypt that says nothing
// about whether its key exists.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
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
