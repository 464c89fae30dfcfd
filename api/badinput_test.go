package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// fixture is the state every bad input runs against.
type fixture struct {
	key      string // enabled, alias/existing, one tag, a ciphertext
	other    string // enabled, another ciphertext
	full     string // 45 tags
	disabled string
	pending  string // PendingDeletion
	blob     []byte // under key, context {"k":"v"}
	keysMark string // a real ListKeys marker
}

func newFixture(t *testing.T, n *testnode.Node) *fixture {
	f := &fixture{}
	c := n.Client
	f.key = *newKey(t, n, &awskms.CreateKeyInput{Description: aws.String("fixture"), Tags: tags("team", "a")}).KeyId
	f.other = newKeyID(t, n)
	f.full = *newKey(t, n, &awskms.CreateKeyInput{Tags: manyTags("f", 45)}).KeyId
	f.disabled = newKeyID(t, n)
	f.pending = newKeyID(t, n)
	createAlias(t, n, "alias/existing", f.key)
	createAlias(t, n, "alias/second", f.other)
	f.blob = encrypt(t, n, f.key, []byte("fixture"), map[string]string{"k": "v"})
	_, err := c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &f.disabled})
	mustOK(t, "DisableKey", err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &f.pending, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	_, err = c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &f.other})
	mustOK(t, "EnableKeyRotation", err)
	_, err = c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &f.other})
	mustOK(t, "RotateKeyOnDemand", err)
	out, err := c.ListKeys(ctx(t), &awskms.ListKeysInput{Limit: i32(1)})
	mustOK(t, "ListKeys", err)
	f.keysMark = aws.ToString(out.NextMarker)
	return f
}

// badCase is one bad input: an SDK call, or a raw signed request for ops
// and bodies the SDK refuses to send.
type badCase struct {
	name string
	sdk  func(cx context.Context, c *awskms.Client) error
	op   string // raw: operation
	body string // raw: JSON body
	want string // AWS __type
}

// sdkCase calls op, a method expression such as (*awskms.Client).Encrypt.
func sdkCase[In, Out any](name, want string, op func(*awskms.Client, context.Context, In, ...func(*awskms.Options)) (Out, error), in In) badCase {
	return badCase{name: name, want: want, sdk: func(cx context.Context, c *awskms.Client) error {
		_, err := op(c, cx, in)
		return err
	}}
}

func rawCase(name, op, body, want string) badCase {
	return badCase{name: name, op: op, body: body, want: want}
}

// Policy documents that are not valid key policies.
var malformedPolicies = map[string]string{
	"not JSON":             `this is not a policy`,
	"truncated JSON":       `{"Version":"2012-10-17","Statement":[`,
	"JSON array":           `[]`,
	"no Statement":         `{"Version":"2012-10-17"}`,
	"empty Statement":      `{"Version":"2012-10-17","Statement":[]}`,
	"unknown Version":      `{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
	"bad Effect":           `{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
	"no Effect":            `{"Version":"2012-10-17","Statement":[{"Principal":"*","Action":"kms:*","Resource":"*"}]}`,
	"no Action":            `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}`,
	"Action and NotAction": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}]}`,
	"Statement not object": `{"Version":"2012-10-17","Statement":["Allow"]}`,
	"unknown element":      `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Colour":"red"}]}`,
}

func badCases(f *fixture) []badCase {
	missing := "6a3e2c9b-1d2e-4f00-8a00-0123456789ab"
	ec := map[string]string{"k": "v"}
	var cs []badCase
	add := func(c ...badCase) { cs = append(cs, c...) }

	// ScheduleKeyDeletion windows: the model allows 1–365, AWS enforces 7–30.
	for _, w := range []int32{6, 31, 0, 366, 1, 365, -1} {
		add(sdkCase(fmt.Sprintf("ScheduleKeyDeletion window %d", w), "ValidationException", (*awskms.Client).ScheduleKeyDeletion,
			&awskms.ScheduleKeyDeletionInput{KeyId: &f.key, PendingWindowInDays: i32(w)}))
	}
	add(sdkCase("ScheduleKeyDeletion pending key", "KMSInvalidStateException", (*awskms.Client).ScheduleKeyDeletion, &awskms.ScheduleKeyDeletionInput{KeyId: &f.pending}))
	add(sdkCase("CancelKeyDeletion enabled key", "KMSInvalidStateException", (*awskms.Client).CancelKeyDeletion, &awskms.CancelKeyDeletionInput{KeyId: &f.key}))
	add(sdkCase("CancelKeyDeletion disabled key", "KMSInvalidStateException", (*awskms.Client).CancelKeyDeletion, &awskms.CancelKeyDeletionInput{KeyId: &f.disabled}))
	add(sdkCase("UpdateKeyDescription 8193 chars", "ValidationException", (*awskms.Client).UpdateKeyDescription,
		&awskms.UpdateKeyDescriptionInput{KeyId: &f.key, Description: aws.String(strings.Repeat("d", 8193))}))

	// Encrypt.
	add(sdkCase("Encrypt 0 bytes", "ValidationException", (*awskms.Client).Encrypt, &awskms.EncryptInput{KeyId: &f.key, Plaintext: []byte{}}))
	add(sdkCase("Encrypt 4097 bytes", "ValidationException", (*awskms.Client).Encrypt, &awskms.EncryptInput{KeyId: &f.key, Plaintext: make([]byte, 4097)}))
	add(sdkCase("Encrypt unknown algorithm", "ValidationException", (*awskms.Client).Encrypt, &awskms.EncryptInput{KeyId: &f.key, Plaintext: []byte("x"), EncryptionAlgorithm: "AES_GCM"}))
	add(sdkCase("Encrypt RSA algorithm on a symmetric key", "InvalidKeyUsageException", (*awskms.Client).Encrypt,
		&awskms.EncryptInput{KeyId: &f.key, Plaintext: []byte("x"), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256}))
	add(sdkCase("Encrypt 11 grant tokens", "ValidationException", (*awskms.Client).Encrypt,
		&awskms.EncryptInput{KeyId: &f.key, Plaintext: []byte("x"), GrantTokens: strings.Split(strings.Repeat("t,", 11)[:21], ",")}))
	add(sdkCase("Encrypt context over 8 KiB", "ValidationException", (*awskms.Client).Encrypt,
		&awskms.EncryptInput{KeyId: &f.key, Plaintext: []byte("x"), EncryptionContext: map[string]string{"k": strings.Repeat("v", 9000)}}))
	add(sdkCase("Encrypt disabled key", "DisabledException", (*awskms.Client).Encrypt, &awskms.EncryptInput{KeyId: &f.disabled, Plaintext: []byte("x")}))
	add(sdkCase("Encrypt pending key", "KMSInvalidStateException", (*awskms.Client).Encrypt, &awskms.EncryptInput{KeyId: &f.pending, Plaintext: []byte("x")}))

	// Decrypt and ReEncrypt.
	add(sdkCase("Decrypt with another key's ID", "IncorrectKeyException", (*awskms.Client).Decrypt, &awskms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: ec, KeyId: &f.other}))
	add(sdkCase("Decrypt with another key's alias", "IncorrectKeyException", (*awskms.Client).Decrypt, &awskms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: ec, KeyId: aws.String("alias/second")}))
	add(sdkCase("Decrypt with a missing alias", "NotFoundException", (*awskms.Client).Decrypt, &awskms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: ec, KeyId: aws.String("alias/none")}))
	add(sdkCase("Decrypt wrong context", "InvalidCiphertextException", (*awskms.Client).Decrypt, &awskms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: map[string]string{"k": "w"}}))
	add(sdkCase("Decrypt RSA algorithm", "InvalidKeyUsageException", (*awskms.Client).Decrypt,
		&awskms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: ec, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1}))
	add(sdkCase("Decrypt with Recipient", "UnsupportedOperationException", (*awskms.Client).Decrypt, &awskms.DecryptInput{CiphertextBlob: f.blob, EncryptionContext: ec,
		Recipient: &types.RecipientInfo{AttestationDocument: []byte{1}, KeyEncryptionAlgorithm: types.KeyEncryptionMechanismRsaesOaepSha256}}))
	add(sdkCase("Decrypt 6145 bytes", "ValidationException", (*awskms.Client).Decrypt, &awskms.DecryptInput{CiphertextBlob: make([]byte, 6145)}))
	add(sdkCase("ReEncrypt wrong SourceKeyId", "IncorrectKeyException", (*awskms.Client).ReEncrypt,
		&awskms.ReEncryptInput{CiphertextBlob: f.blob, SourceEncryptionContext: ec, SourceKeyId: &f.other, DestinationKeyId: &f.other}))
	add(sdkCase("ReEncrypt to a missing key", "NotFoundException", (*awskms.Client).ReEncrypt,
		&awskms.ReEncryptInput{CiphertextBlob: f.blob, SourceEncryptionContext: ec, DestinationKeyId: &missing}))
	add(sdkCase("ReEncrypt to a disabled key", "DisabledException", (*awskms.Client).ReEncrypt,
		&awskms.ReEncryptInput{CiphertextBlob: f.blob, SourceEncryptionContext: ec, DestinationKeyId: &f.disabled}))
	add(sdkCase("ReEncrypt to a pending key", "KMSInvalidStateException", (*awskms.Client).ReEncrypt,
		&awskms.ReEncryptInput{CiphertextBlob: f.blob, SourceEncryptionContext: ec, DestinationKeyId: &f.pending}))

	// Data keys and random bytes.
	for _, nb := range []int32{0, 1025, -1} {
		add(sdkCase(fmt.Sprintf("GenerateDataKey NumberOfBytes %d", nb), "ValidationException", (*awskms.Client).GenerateDataKey,
			&awskms.GenerateDataKeyInput{KeyId: &f.key, NumberOfBytes: i32(nb)}))
		add(sdkCase(fmt.Sprintf("GenerateDataKeyWithoutPlaintext NumberOfBytes %d", nb), "ValidationException", (*awskms.Client).GenerateDataKeyWithoutPlaintext,
			&awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &f.key, NumberOfBytes: i32(nb)}))
		add(sdkCase(fmt.Sprintf("GenerateRandom %d", nb), "ValidationException", (*awskms.Client).GenerateRandom, &awskms.GenerateRandomInput{NumberOfBytes: i32(nb)}))
	}
	add(sdkCase("GenerateDataKey KeySpec and NumberOfBytes", "ValidationException", (*awskms.Client).GenerateDataKey,
		&awskms.GenerateDataKeyInput{KeyId: &f.key, KeySpec: types.DataKeySpecAes256, NumberOfBytes: i32(32)}))
	add(sdkCase("GenerateDataKey neither", "ValidationException", (*awskms.Client).GenerateDataKey, &awskms.GenerateDataKeyInput{KeyId: &f.key}))
	add(sdkCase("GenerateDataKey KeySpec AES-256", "ValidationException", (*awskms.Client).GenerateDataKey, &awskms.GenerateDataKeyInput{KeyId: &f.key, KeySpec: "AES-256"}))
	add(sdkCase("GenerateDataKeyWithoutPlaintext both", "ValidationException", (*awskms.Client).GenerateDataKeyWithoutPlaintext,
		&awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &f.key, KeySpec: types.DataKeySpecAes128, NumberOfBytes: i32(16)}))
	add(sdkCase("GenerateDataKeyWithoutPlaintext neither", "ValidationException", (*awskms.Client).GenerateDataKeyWithoutPlaintext, &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &f.key}))
	add(sdkCase("GenerateDataKeyWithoutPlaintext KeySpec AES_512", "ValidationException", (*awskms.Client).GenerateDataKeyWithoutPlaintext, &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &f.key, KeySpec: "AES_512"}))
	add(sdkCase("GenerateDataKey disabled key", "DisabledException", (*awskms.Client).GenerateDataKey, &awskms.GenerateDataKeyInput{KeyId: &f.disabled, KeySpec: types.DataKeySpecAes256}))
	add(sdkCase("GenerateDataKey with Recipient", "UnsupportedOperationException", (*awskms.Client).GenerateDataKey, &awskms.GenerateDataKeyInput{KeyId: &f.key, KeySpec: types.DataKeySpecAes256,
		Recipient: &types.RecipientInfo{AttestationDocument: []byte{1}, KeyEncryptionAlgorithm: types.KeyEncryptionMechanismRsaesOaepSha256}}))
	add(sdkCase("GenerateRandom without NumberOfBytes", "ValidationException", (*awskms.Client).GenerateRandom, &awskms.GenerateRandomInput{}))
	add(sdkCase("GenerateRandom custom key store", "CustomKeyStoreNotFoundException", (*awskms.Client).GenerateRandom, &awskms.GenerateRandomInput{NumberOfBytes: i32(8), CustomKeyStoreId: aws.String("cks-1234567890abcdef0")}))

	// CreateKey.
	for _, spec := range []types.KeySpec{types.KeySpecRsa2048, types.KeySpecEccNistP256, types.KeySpecHmac256, types.KeySpecSm2} {
		add(sdkCase("CreateKey KeySpec "+string(spec), "UnsupportedOperationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{KeySpec: spec}))
	}
	add(sdkCase("CreateKey CustomerMasterKeySpec RSA_2048", "UnsupportedOperationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{CustomerMasterKeySpec: types.CustomerMasterKeySpecRsa2048}))
	add(sdkCase("CreateKey KeySpec AES-256", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{KeySpec: "AES-256"}))
	add(sdkCase("CreateKey KeySpec and CustomerMasterKeySpec", "ValidationException", (*awskms.Client).CreateKey,
		&awskms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, CustomerMasterKeySpec: types.CustomerMasterKeySpecSymmetricDefault}))
	for _, o := range []types.OriginType{types.OriginTypeExternal, types.OriginTypeExternalKeyStore} {
		add(sdkCase("CreateKey Origin "+string(o), "UnsupportedOperationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Origin: o}))
	}
	add(sdkCase("CreateKey Origin bogus", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Origin: "SOMEWHERE"}))
	for _, u := range []types.KeyUsageType{types.KeyUsageTypeSignVerify, types.KeyUsageTypeGenerateVerifyMac, types.KeyUsageTypeKeyAgreement, "ENCRYPT"} {
		add(sdkCase("CreateKey KeyUsage "+string(u), "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{KeyUsage: u}))
	}
	add(sdkCase("CreateKey custom key store", "CustomKeyStoreNotFoundException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")}))
	add(sdkCase("CreateKey description 8193 chars", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Description: aws.String(strings.Repeat("d", 8193))}))
	add(sdkCase("CreateKey tag aws:x", "TagException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Tags: tags("aws:x", "v")}))
	add(sdkCase("CreateKey 51 tags", "TagException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Tags: manyTags("c", 51)}))
	add(sdkCase("CreateKey duplicate tag keys", "TagException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Tags: tags("a", "1", "a", "2")}))
	add(sdkCase("CreateKey empty tag key", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Tags: tags("", "v")}))
	add(sdkCase("CreateKey tag key 129 chars", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Tags: tags(strings.Repeat("k", 129), "v")}))
	add(sdkCase("CreateKey tag value 257 chars", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Tags: tags("k", strings.Repeat("v", 257))}))
	add(sdkCase("CreateKey policy outside Latin-1", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Sid":"€","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`)}))
	add(sdkCase("CreateKey policy over 131072 chars", "ValidationException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Policy: aws.String(strings.Repeat(" ", 131073))}))
	for name, doc := range malformedPolicies {
		add(sdkCase("CreateKey policy "+name, "MalformedPolicyDocumentException", (*awskms.Client).CreateKey, &awskms.CreateKeyInput{Policy: aws.String(doc)}))
		add(sdkCase("PutKeyPolicy "+name, "MalformedPolicyDocumentException", (*awskms.Client).PutKeyPolicy, &awskms.PutKeyPolicyInput{KeyId: &f.key, Policy: aws.String(doc)}))
	}
	okPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`
	add(sdkCase("PutKeyPolicy PolicyName other", "NotFoundException", (*awskms.Client).PutKeyPolicy, &awskms.PutKeyPolicyInput{KeyId: &f.key, PolicyName: aws.String("other"), Policy: aws.String(okPolicy)}))
	add(sdkCase("PutKeyPolicy PolicyName bad chars", "ValidationException", (*awskms.Client).PutKeyPolicy, &awskms.PutKeyPolicyInput{KeyId: &f.key, PolicyName: aws.String("de fault"), Policy: aws.String(okPolicy)}))
	add(sdkCase("PutKeyPolicy missing key", "NotFoundException", (*awskms.Client).PutKeyPolicy, &awskms.PutKeyPolicyInput{KeyId: &missing, Policy: aws.String(okPolicy)}))
	add(sdkCase("GetKeyPolicy PolicyName other", "NotFoundException", (*awskms.Client).GetKeyPolicy, &awskms.GetKeyPolicyInput{KeyId: &f.key, PolicyName: aws.String("other")}))

	// Rotation.
	for _, p := range []int32{89, 2561, 0, -90} {
		add(sdkCase(fmt.Sprintf("EnableKeyRotation period %d", p), "ValidationException", (*awskms.Client).EnableKeyRotation, &awskms.EnableKeyRotationInput{KeyId: &f.key, RotationPeriodInDays: i32(p)}))
	}
	add(sdkCase("EnableKeyRotation disabled key", "DisabledException", (*awskms.Client).EnableKeyRotation, &awskms.EnableKeyRotationInput{KeyId: &f.disabled}))
	add(sdkCase("RotateKeyOnDemand pending key", "KMSInvalidStateException", (*awskms.Client).RotateKeyOnDemand, &awskms.RotateKeyOnDemandInput{KeyId: &f.pending}))

	// Aliases.
	for _, c := range []struct{ name, alias, want string }{
		{"without alias/", "existing2", "InvalidAliasNameException"},
		{"alias/aws/", "alias/aws/mine", "InvalidAliasNameException"},
		{"alias/ only", "alias/", "InvalidAliasNameException"},
		{"with a space", "alias/bad name", "ValidationException"},
		{"with !", "alias/bad!", "ValidationException"},
		{"with unicode", "alias/é", "ValidationException"},
		{"257 chars", "alias/" + strings.Repeat("x", 251), "ValidationException"},
	} {
		add(sdkCase("CreateAlias "+c.name, c.want, (*awskms.Client).CreateAlias, &awskms.CreateAliasInput{AliasName: aws.String(c.alias), TargetKeyId: &f.key}))
		add(sdkCase("UpdateAlias "+c.name, c.want, (*awskms.Client).UpdateAlias, &awskms.UpdateAliasInput{AliasName: aws.String(c.alias), TargetKeyId: &f.key}))
		add(sdkCase("DeleteAlias "+c.name, c.want, (*awskms.Client).DeleteAlias, &awskms.DeleteAliasInput{AliasName: aws.String(c.alias)}))
	}
	add(sdkCase("CreateAlias duplicate", "AlreadyExistsException", (*awskms.Client).CreateAlias, &awskms.CreateAliasInput{AliasName: aws.String("alias/existing"), TargetKeyId: &f.other}))
	add(sdkCase("CreateAlias duplicate, same key", "AlreadyExistsException", (*awskms.Client).CreateAlias, &awskms.CreateAliasInput{AliasName: aws.String("alias/existing"), TargetKeyId: &f.key}))
	for _, target := range []string{missing, "foo", "alias/existing", keyARN(missing), "arn:aws:kms:eu-west-1:" + testAccount + ":key/" + "00000000-0000-4000-8000-000000000000"} {
		add(sdkCase("CreateAlias to "+target, "NotFoundException", (*awskms.Client).CreateAlias, &awskms.CreateAliasInput{AliasName: aws.String("alias/new"), TargetKeyId: aws.String(target)}))
	}
	add(sdkCase("CreateAlias to a pending key", "KMSInvalidStateException", (*awskms.Client).CreateAlias, &awskms.CreateAliasInput{AliasName: aws.String("alias/new"), TargetKeyId: &f.pending}))
	add(sdkCase("UpdateAlias missing alias", "NotFoundException", (*awskms.Client).UpdateAlias, &awskms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: &f.key}))
	add(sdkCase("UpdateAlias to a missing key", "NotFoundException", (*awskms.Client).UpdateAlias, &awskms.UpdateAliasInput{AliasName: aws.String("alias/existing"), TargetKeyId: &missing}))
	add(sdkCase("DeleteAlias missing", "NotFoundException", (*awskms.Client).DeleteAlias, &awskms.DeleteAliasInput{AliasName: aws.String("alias/none")}))
	add(sdkCase("ListAliases missing key", "NotFoundException", (*awskms.Client).ListAliases, &awskms.ListAliasesInput{KeyId: &missing}))

	// Tags.
	add(sdkCase("TagResource aws:x", "TagException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.key, Tags: tags("ok", "1", "aws:x", "v")}))
	add(sdkCase("TagResource aws: alone", "TagException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.key, Tags: tags("aws:", "v")}))
	add(sdkCase("TagResource 51 tags", "TagException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.other, Tags: manyTags("n", 51)}))
	add(sdkCase("TagResource duplicate keys", "TagException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.key, Tags: tags("d", "1", "d", "2")}))
	add(sdkCase("TagResource past 50 in all", "LimitExceededException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.full, Tags: manyTags("g", 6)}))
	add(sdkCase("TagResource tag key 129 chars", "ValidationException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.key, Tags: tags(strings.Repeat("k", 129), "v")}))
	add(sdkCase("TagResource pending key", "KMSInvalidStateException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &f.pending, Tags: tags("a", "b")}))
	add(sdkCase("UntagResource tag key 129 chars", "ValidationException", (*awskms.Client).UntagResource, &awskms.UntagResourceInput{KeyId: &f.key, TagKeys: []string{strings.Repeat("k", 129)}}))

	// Markers and limits.
	for _, m := range []string{"garbage", "!!!", base64.RawURLEncoding.EncodeToString([]byte("aliases:alias/existing")), base64.RawURLEncoding.EncodeToString([]byte("keys:"))} {
		add(sdkCase("ListKeys Marker "+m, "InvalidMarkerException", (*awskms.Client).ListKeys, &awskms.ListKeysInput{Marker: aws.String(m)}))
	}
	add(sdkCase("ListAliases with a ListKeys marker", "InvalidMarkerException", (*awskms.Client).ListAliases, &awskms.ListAliasesInput{Marker: aws.String(f.keysMark)}))
	add(sdkCase("ListResourceTags with a ListKeys marker", "InvalidMarkerException", (*awskms.Client).ListResourceTags, &awskms.ListResourceTagsInput{KeyId: &f.key, Marker: aws.String(f.keysMark)}))
	add(sdkCase("ListKeyRotations with a ListKeys marker", "InvalidMarkerException", (*awskms.Client).ListKeyRotations, &awskms.ListKeyRotationsInput{KeyId: &f.key, Marker: aws.String(f.keysMark)}))
	add(sdkCase("ListKeyRotations marker of version 0", "InvalidMarkerException", (*awskms.Client).ListKeyRotations, &awskms.ListKeyRotationsInput{KeyId: &f.key, Marker: aws.String(base64.RawURLEncoding.EncodeToString([]byte("rotations:0")))}))
	add(sdkCase("ListKeyPolicies bad marker", "InvalidMarkerException", (*awskms.Client).ListKeyPolicies, &awskms.ListKeyPoliciesInput{KeyId: &f.key, Marker: aws.String("garbage")}))
	add(sdkCase("ListGrants bad marker", "InvalidMarkerException", (*awskms.Client).ListGrants, &awskms.ListGrantsInput{KeyId: &f.key, Marker: aws.String("garbage")}))
	add(sdkCase("ListKeys marker outside Latin-1", "ValidationException", (*awskms.Client).ListKeys, &awskms.ListKeysInput{Marker: aws.String("€")}))
	for _, l := range []int32{0, 1001, -1} {
		add(sdkCase(fmt.Sprintf("ListKeys Limit %d", l), "ValidationException", (*awskms.Client).ListKeys, &awskms.ListKeysInput{Limit: i32(l)}))
		add(sdkCase(fmt.Sprintf("ListAliases Limit %d", l), "ValidationException", (*awskms.Client).ListAliases, &awskms.ListAliasesInput{Limit: i32(l)}))
		add(sdkCase(fmt.Sprintf("ListResourceTags Limit %d", l), "ValidationException", (*awskms.Client).ListResourceTags, &awskms.ListResourceTagsInput{KeyId: &f.key, Limit: i32(l)}))
	}

	// Key references that name no key, for every kind of operation.
	unknownRefs := []string{
		"foo", missing, "alias/none", "mrk-0123456789abcdef0123456789abcdef", keyARN(missing), aliasARN("alias/none"),
		"arn:aws:kms:eu-west-1:" + testAccount + ":key/" + missing, "arn:aws:kms:" + testRegion + ":444455556666:alias/existing",
		strings.ToUpper(missing[:8]) + "-zzzz" + missing[13:],
	}
	for _, ref := range unknownRefs {
		ref := ref
		add(sdkCase("DescribeKey "+ref, "NotFoundException", (*awskms.Client).DescribeKey, &awskms.DescribeKeyInput{KeyId: &ref}))
		add(sdkCase("Encrypt "+ref, "NotFoundException", (*awskms.Client).Encrypt, &awskms.EncryptInput{KeyId: &ref, Plaintext: []byte("x")}))
		add(sdkCase("GenerateDataKey "+ref, "NotFoundException", (*awskms.Client).GenerateDataKey, &awskms.GenerateDataKeyInput{KeyId: &ref, KeySpec: types.DataKeySpecAes256}))
		add(sdkCase("EnableKey "+ref, "NotFoundException", (*awskms.Client).EnableKey, &awskms.EnableKeyInput{KeyId: &ref}))
		add(sdkCase("DisableKey "+ref, "NotFoundException", (*awskms.Client).DisableKey, &awskms.DisableKeyInput{KeyId: &ref}))
		add(sdkCase("ScheduleKeyDeletion "+ref, "NotFoundException", (*awskms.Client).ScheduleKeyDeletion, &awskms.ScheduleKeyDeletionInput{KeyId: &ref}))
		add(sdkCase("UpdateKeyDescription "+ref, "NotFoundException", (*awskms.Client).UpdateKeyDescription, &awskms.UpdateKeyDescriptionInput{KeyId: &ref, Description: aws.String("x")}))
		add(sdkCase("TagResource "+ref, "NotFoundException", (*awskms.Client).TagResource, &awskms.TagResourceInput{KeyId: &ref, Tags: tags("a", "b")}))
		add(sdkCase("GetKeyPolicy "+ref, "NotFoundException", (*awskms.Client).GetKeyPolicy, &awskms.GetKeyPolicyInput{KeyId: &ref}))
		add(sdkCase("GetKeyRotationStatus "+ref, "NotFoundException", (*awskms.Client).GetKeyRotationStatus, &awskms.GetKeyRotationStatusInput{KeyId: &ref}))
		add(sdkCase("RotateKeyOnDemand "+ref, "NotFoundException", (*awskms.Client).RotateKeyOnDemand, &awskms.RotateKeyOnDemandInput{KeyId: &ref}))
		add(sdkCase("ListResourceTags "+ref, "NotFoundException", (*awskms.Client).ListResourceTags, &awskms.ListResourceTagsInput{KeyId: &ref}))
	}

	// Requests the SDK will not send: required members missing or null.
	add(
		rawCase("raw Encrypt without KeyId", "Encrypt", `{"Plaintext":"eA=="}`, "ValidationException"),
		rawCase("raw Encrypt without Plaintext", "Encrypt", `{"KeyId":"`+f.key+`"}`, "ValidationException"),
		rawCase("raw Encrypt Plaintext null", "Encrypt", `{"KeyId":"`+f.key+`","Plaintext":null}`, "ValidationException"),
		rawCase("raw Encrypt Plaintext empty", "Encrypt", `{"KeyId":"`+f.key+`","Plaintext":""}`, "ValidationException"),
		rawCase("raw DescribeKey {}", "DescribeKey", `{}`, "ValidationException"),
		rawCase("raw DescribeKey KeyId 2049 chars", "DescribeKey", `{"KeyId":"`+strings.Repeat("k", 2049)+`"}`, "ValidationException"),
		rawCase("raw CreateAlias without target", "CreateAlias", `{"AliasName":"alias/new"}`, "ValidationException"),
		rawCase("raw TagResource without Tags", "TagResource", `{"KeyId":"`+f.key+`"}`, "ValidationException"),
		rawCase("raw UntagResource without TagKeys", "UntagResource", `{"KeyId":"`+f.key+`"}`, "ValidationException"),
		rawCase("raw UpdateKeyDescription without Description", "UpdateKeyDescription", `{"KeyId":"`+f.key+`"}`, "ValidationException"),
		rawCase("raw PutKeyPolicy without Policy", "PutKeyPolicy", `{"KeyId":"`+f.key+`"}`, "ValidationException"),
		rawCase("raw ReEncrypt without destination", "ReEncrypt", `{"CiphertextBlob":"`+base64.StdEncoding.EncodeToString(f.blob)+`"}`, "ValidationException"),
		rawCase("raw ScheduleKeyDeletion window as string", "ScheduleKeyDeletion", `{"KeyId":"`+f.key+`","PendingWindowInDays":"7"}`, "SerializationException"),
		rawCase("raw TagResource Tags as object", "TagResource", `{"KeyId":"`+f.key+`","Tags":{"a":"b"}}`, "SerializationException"),
		rawCase("raw Encrypt bad base64", "Encrypt", `{"KeyId":"`+f.key+`","Plaintext":"not base64!"}`, "SerializationException"),
		rawCase("raw not JSON", "CreateKey", `{"Description":`, "SerializationException"),
	)
	return cs
}

// TestBadInputs sends every bad input of the table; each gets its AWS error
// type, the node keeps serving, and the state afterwards is unchanged.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	n := start(t)
	f := newFixture(t, n)
	before := snapshot(t, n)
	cases := badCases(f)
	seen := map[string]bool{}
	for _, bc := range cases {
		if seen[bc.name] {
			t.Fatalf("duplicate case name %q", bc.name)
		}
		seen[bc.name] = true
		t.Run(bc.name, func(t *testing.T) {
			if bc.sdk != nil {
				wantErr(t, bc.sdk(ctx(t), n.Client), bc.want)
			} else {
				r := rawCall(t, n, bc.op, []byte(bc.body), rawOpts{})
				wantRawErr(t, r, 400, bc.want)
			}
			// The node still serves, and nothing changed.
			describe(t, n, f.key)
			sameState(t, n, before)
		})
	}
	t.Logf("%d bad inputs", len(cases))
	// The fixture's keys still work.
	if got := decrypt(t, n, f.blob, map[string]string{"k": "v"}).Plaintext; string(got) != "fixture" {
		t.Fatalf("Decrypt %q", got)
	}
}

// TestRotateKeyOnDemandLimit: AWS allows 25 on-demand rotations per key.
func TestRotateKeyOnDemandLimit(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	first := encrypt(t, n, id, []byte("v1"), nil)
	for i := range 25 {
		_, err := n.Client.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
		mustOK(t, fmt.Sprintf("RotateKeyOnDemand %d", i+1), err)
	}
	before := snapshot(t, n)
	_, err := n.Client.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
	wantErr(t, err, "LimitExceededException")
	sameState(t, n, before)
	if rs := listRotations(t, n, id); len(rs) != 25 {
		t.Errorf("%d rotations listed", len(rs))
	}
	if got := decrypt(t, n, first, nil).Plaintext; string(got) != "v1" {
		t.Errorf("first ciphertext: %q", got)
	}
	if v := blobVersion(t, encrypt(t, n, id, []byte("v26"), nil)); v != 26 {
		t.Errorf("newest ciphertext uses version %d", v)
	}
}

// TestDuplicateContextKeys: an encryption context with one key twice is
// ambiguous (crypto.CanonicalContext leaves rejecting it to the caller); it
// must be refused, not silently reduced to the last value.
func TestDuplicateContextKeys(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	r := rawCall(t, n, "Encrypt", []byte(`{"KeyId":"`+id+`","Plaintext":"eA==","EncryptionContext":{"a":"1","a":"2"}}`), rawOpts{})
	if r.Status != 400 {
		t.Fatalf("duplicate context key accepted: %s", r)
	}
	checkErrorShape(t, r)
}

// TestMemberNamesAreCaseSensitive: AWS JSON member names are case-sensitive;
// "keyid" is not KeyId.
func TestMemberNamesAreCaseSensitive(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	r := rawCall(t, n, "Encrypt", []byte(`{"keyid":"`+id+`","plaintext":"eA=="}`), rawOpts{})
	wantRawErr(t, r, 400, "ValidationException")
}

// TestValidationMessages: ValidationException messages follow AWS's
// "1 validation error detected: Value '…' at '…' failed to satisfy
// constraint: …" form, which clients and people grep for.
func TestValidationMessages(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)
	check := func(err error, want string) {
		t.Helper()
		if msg := wantErr(t, err, "ValidationException"); !strings.HasPrefix(msg, want) {
			t.Errorf("message %q, want it to start with %q", msg, want)
		}
	}
	_, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: "AES-256"})
	check(err, "1 validation error detected: Value 'AES-256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]")
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: i32(6)})
	check(err, "1 validation error detected: Value '6' at 'pendingWindowInDays' failed to satisfy constraint: Member must have minimum value of 7 and maximum value of 30")
	_, err = c.GenerateRandom(ctx(t), &awskms.GenerateRandomInput{NumberOfBytes: i32(1025)})
	check(err, "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024")
	_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: make([]byte, 4097)})
	check(err, "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096")
}
