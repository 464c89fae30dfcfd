package api_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/kms"
)

var (
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	mrkRE   = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)
	hex64RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// manualClock returns a manual clock at a millisecond-round "now", which is
// what the node stores, so dates compare exactly.
func manualClock() *kms.ManualClock {
	return kms.NewManualClock(time.Now().Truncate(time.Millisecond))
}

const day = 24 * time.Hour

// sameInstant compares a date the node returned (epoch seconds with
// fractional milliseconds) with the expected instant.
func sameInstant(t testing.TB, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: absent, want %v", what, want)
	}
	if d := got.Sub(want); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("%s: %v, want %v", what, got.UTC(), want.UTC())
	}
}

func TestCreateKeyDefaults(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	md := newKey(t, n, nil)

	id := aws.ToString(md.KeyId)
	if !uuidRE.MatchString(id) {
		t.Errorf("KeyId %q is not a lowercase UUID", id)
	}
	if got := aws.ToString(md.Arn); got != keyARN(id) {
		t.Errorf("Arn %q, want %q", got, keyARN(id))
	}
	if got := aws.ToString(md.AWSAccountId); got != testAccount {
		t.Errorf("AWSAccountId %q", got)
	}
	sameInstant(t, "CreationDate", md.CreationDate, clk.Now())
	if !md.Enabled || md.KeyState != types.KeyStateEnabled {
		t.Errorf("Enabled %v KeyState %q, want true Enabled", md.Enabled, md.KeyState)
	}
	if md.KeyUsage != types.KeyUsageTypeEncryptDecrypt {
		t.Errorf("KeyUsage %q", md.KeyUsage)
	}
	if md.KeySpec != types.KeySpecSymmetricDefault {
		t.Errorf("KeySpec %q", md.KeySpec)
	}
	if md.CustomerMasterKeySpec != types.CustomerMasterKeySpecSymmetricDefault {
		t.Errorf("CustomerMasterKeySpec %q", md.CustomerMasterKeySpec)
	}
	if !slices.Equal(md.EncryptionAlgorithms, []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault}) {
		t.Errorf("EncryptionAlgorithms %v", md.EncryptionAlgorithms)
	}
	if md.KeyManager != types.KeyManagerTypeCustomer {
		t.Errorf("KeyManager %q", md.KeyManager)
	}
	if md.Origin != types.OriginTypeAwsKms {
		t.Errorf("Origin %q", md.Origin)
	}
	if md.MultiRegion == nil || *md.MultiRegion {
		t.Errorf("MultiRegion %v, want present and false", md.MultiRegion)
	}
	if md.MultiRegionConfiguration != nil {
		t.Errorf("MultiRegionConfiguration %+v on a single-region key", md.MultiRegionConfiguration)
	}
	if md.DeletionDate != nil || md.PendingDeletionWindowInDays != nil {
		t.Errorf("deletion fields on a new key: %v %v", md.DeletionDate, md.PendingDeletionWindowInDays)
	}
	if d := aws.ToString(md.Description); d != "" {
		t.Errorf("Description %q, want empty", d)
	}
	if !hex64RE.MatchString(aws.ToString(md.CurrentKeyMaterialId)) {
		t.Errorf("CurrentKeyMaterialId %q is not 64 hex digits", aws.ToString(md.CurrentKeyMaterialId))
	}
	if len(md.SigningAlgorithms)+len(md.MacAlgorithms)+len(md.KeyAgreementAlgorithms) != 0 {
		t.Errorf("a symmetric key lists other algorithms: %+v", md)
	}

	// DescribeKey returns exactly what CreateKey returned.
	if got, want := jsonOf(describe(t, n, id)), jsonOf(md); got != want {
		t.Errorf("DescribeKey differs from CreateKey:\n%s\n%s", got, want)
	}

	// Explicit defaults are accepted, including the deprecated spec field.
	for _, in := range []*awskms.CreateKeyInput{
		{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeEncryptDecrypt, Origin: types.OriginTypeAwsKms},
		{CustomerMasterKeySpec: types.CustomerMasterKeySpecSymmetricDefault},
		{MultiRegion: aws.Bool(false)},
	} {
		md := newKey(t, n, in)
		if md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt || aws.ToBool(md.MultiRegion) {
			t.Errorf("CreateKey %+v → %+v", in, md)
		}
	}
}

func TestCreateKeyOptions(t *testing.T) {
	t.Parallel()
	n := start(t)
	pol := `{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	md := newKey(t, n, &awskms.CreateKeyInput{
		Description:                    aws.String("payments key"),
		Tags:                           []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("payments")}, {TagKey: aws.String("env"), TagValue: aws.String("")}},
		Policy:                         aws.String(pol),
		BypassPolicyLockoutSafetyCheck: true,
	})
	id := *md.KeyId
	if got := aws.ToString(md.Description); got != "payments key" {
		t.Errorf("CreateKey Description %q", got)
	}
	if got := aws.ToString(describe(t, n, id).Description); got != "payments key" {
		t.Errorf("DescribeKey Description %q", got)
	}
	tags, err := n.Client.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &id})
	mustOK(t, "ListResourceTags", err)
	if got := tagMap(tags.Tags); len(got) != 2 || got["team"] != "payments" || got["env"] != "" {
		t.Errorf("tags %v", got)
	}
	p, err := n.Client.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id})
	mustOK(t, "GetKeyPolicy", err)
	if aws.ToString(p.Policy) != pol {
		t.Errorf("policy %q, want the one given to CreateKey", aws.ToString(p.Policy))
	}
}

func TestCreateKeyMultiRegion(t *testing.T) {
	t.Parallel()
	n := start(t)
	md := newKey(t, n, &awskms.CreateKeyInput{MultiRegion: aws.Bool(true), Description: aws.String("mrk")})
	id := aws.ToString(md.KeyId)
	if !mrkRE.MatchString(id) {
		t.Fatalf("multi-Region KeyId %q, want mrk-<32 hex>", id)
	}
	for _, m := range []*types.KeyMetadata{md, describe(t, n, id)} {
		if !aws.ToBool(m.MultiRegion) {
			t.Errorf("MultiRegion %v", m.MultiRegion)
		}
		if aws.ToString(m.Arn) != keyARN(id) {
			t.Errorf("Arn %q", aws.ToString(m.Arn))
		}
		c := m.MultiRegionConfiguration
		if c == nil {
			t.Fatalf("no MultiRegionConfiguration")
		}
		if c.MultiRegionKeyType != types.MultiRegionKeyTypePrimary {
			t.Errorf("MultiRegionKeyType %q", c.MultiRegionKeyType)
		}
		if c.PrimaryKey == nil || aws.ToString(c.PrimaryKey.Arn) != keyARN(id) || aws.ToString(c.PrimaryKey.Region) != testRegion {
			t.Errorf("PrimaryKey %+v", c.PrimaryKey)
		}
		if len(c.ReplicaKeys) != 0 {
			t.Errorf("ReplicaKeys %+v", c.ReplicaKeys)
		}
	}
	// A multi-Region key encrypts and decrypts like any other.
	blob := encrypt(t, n, id, []byte("mrk data"), nil)
	out := decrypt(t, n, blob, nil)
	if string(out.Plaintext) != "mrk data" || aws.ToString(out.KeyId) != keyARN(id) {
		t.Fatalf("Decrypt %q %q", out.Plaintext, aws.ToString(out.KeyId))
	}
	// Its ID is accepted in every form, in upper case too.
	for _, ref := range []string{id, keyARN(id)} {
		if got := aws.ToString(describe(t, n, ref).KeyId); got != id {
			t.Errorf("DescribeKey %s → %s", ref, got)
		}
	}
}

func TestListKeysPaging(t *testing.T) {
	t.Parallel()
	n := start(t)
	var want []string
	for range 7 {
		want = append(want, newKeyID(t, n))
	}
	slices.Sort(want)

	var got []string
	var marker *string
	var pages []int
	for {
		out, err := n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{Limit: i32(3), Marker: marker})
		mustOK(t, "ListKeys", err)
		pages = append(pages, len(out.Keys))
		for _, k := range out.Keys {
			if aws.ToString(k.KeyArn) != keyARN(aws.ToString(k.KeyId)) {
				t.Errorf("entry %s has KeyArn %s", aws.ToString(k.KeyId), aws.ToString(k.KeyArn))
			}
			got = append(got, aws.ToString(k.KeyId))
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Errorf("last page has NextMarker %q", *out.NextMarker)
			}
			break
		}
		if aws.ToString(out.NextMarker) == "" {
			t.Fatalf("Truncated page without NextMarker")
		}
		marker = out.NextMarker
		if len(pages) > 10 {
			t.Fatalf("paging does not end: %v", pages)
		}
	}
	if !slices.Equal(pages, []int{3, 3, 1}) {
		t.Errorf("page sizes %v, want [3 3 1]", pages)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("listed %v\nwant %v", got, want)
	}

	// Without a limit, one page holds them all.
	out, err := n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
	mustOK(t, "ListKeys", err)
	if len(out.Keys) != 7 || out.Truncated || out.NextMarker != nil {
		t.Errorf("unpaged ListKeys: %d keys, truncated %v", len(out.Keys), out.Truncated)
	}
	// Limit equal to the count: one full page, not truncated.
	out, err = n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{Limit: i32(7)})
	mustOK(t, "ListKeys", err)
	if len(out.Keys) != 7 || out.Truncated {
		t.Errorf("ListKeys Limit 7: %d keys, truncated %v", len(out.Keys), out.Truncated)
	}
	// The SDK paginator sees the same keys.
	var viaPaginator []string
	for p := awskms.NewListKeysPaginator(n.Client, &awskms.ListKeysInput{Limit: i32(2)}); p.HasMorePages(); {
		out, err := p.NextPage(ctx(t))
		mustOK(t, "ListKeys page", err)
		for _, k := range out.Keys {
			viaPaginator = append(viaPaginator, *k.KeyId)
		}
	}
	slices.Sort(viaPaginator)
	if !slices.Equal(viaPaginator, want) {
		t.Errorf("paginator listed %v", viaPaginator)
	}
}

func TestUpdateKeyDescription(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := *newKey(t, n, &awskms.CreateKeyInput{Description: aws.String("old")}).KeyId
	for _, ref := range []string{id, keyARN(id)} {
		_, err := n.Client.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &ref, Description: aws.String("new " + ref)})
		mustOK(t, "UpdateKeyDescription", err)
		if got := aws.ToString(describe(t, n, id).Description); got != "new "+ref {
			t.Errorf("Description %q", got)
		}
	}
	_, err := n.Client.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("")})
	mustOK(t, "UpdateKeyDescription to empty", err)
	if got := aws.ToString(describe(t, n, id).Description); got != "" {
		t.Errorf("Description %q, want empty", got)
	}
}

func TestEnableDisableKey(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	for i, ref := range []string{id, keyARN(id)} {
		_, err := n.Client.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &ref})
		mustOK(t, "DisableKey", err)
		if md := describe(t, n, id); md.Enabled || md.KeyState != types.KeyStateDisabled {
			t.Fatalf("after DisableKey: Enabled %v state %q", md.Enabled, md.KeyState)
		}
		if i == 0 { // disabling twice is fine
			_, err = n.Client.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &ref})
			mustOK(t, "DisableKey again", err)
		}
		_, err = n.Client.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &ref})
		mustOK(t, "EnableKey", err)
		if md := describe(t, n, id); !md.Enabled || md.KeyState != types.KeyStateEnabled {
			t.Fatalf("after EnableKey: Enabled %v state %q", md.Enabled, md.KeyState)
		}
	}
	_, err := n.Client.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &id})
	mustOK(t, "EnableKey on an enabled key", err)
}

func TestScheduleAndCancelKeyDeletion(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	cases := []struct {
		name   string
		window *int32
		want   int32
	}{
		{"default", nil, 30},
		{"7", i32(7), 7},
		{"30", i32(30), 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := newKeyID(t, n)
			now := clk.Now()
			out, err := n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: c.window})
			mustOK(t, "ScheduleKeyDeletion", err)
			if aws.ToString(out.KeyId) != keyARN(id) {
				t.Errorf("KeyId %q, want the key ARN", aws.ToString(out.KeyId))
			}
			if out.KeyState != types.KeyStatePendingDeletion {
				t.Errorf("KeyState %q", out.KeyState)
			}
			if aws.ToInt32(out.PendingWindowInDays) != c.want {
				t.Errorf("PendingWindowInDays %v, want %d", out.PendingWindowInDays, c.want)
			}
			due := now.Add(time.Duration(c.want) * day)
			sameInstant(t, "DeletionDate", out.DeletionDate, due)

			md := describe(t, n, id)
			if md.KeyState != types.KeyStatePendingDeletion || md.Enabled {
				t.Errorf("DescribeKey state %q enabled %v", md.KeyState, md.Enabled)
			}
			sameInstant(t, "DescribeKey DeletionDate", md.DeletionDate, due)
			if aws.ToInt32(md.PendingDeletionWindowInDays) != c.want {
				t.Errorf("PendingDeletionWindowInDays %v", md.PendingDeletionWindowInDays)
			}

			cancel, err := n.Client.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &id})
			mustOK(t, "CancelKeyDeletion", err)
			if aws.ToString(cancel.KeyId) != keyARN(id) {
				t.Errorf("CancelKeyDeletion KeyId %q", aws.ToString(cancel.KeyId))
			}
			md = describe(t, n, id)
			if md.KeyState != types.KeyStateDisabled || md.Enabled {
				t.Errorf("after CancelKeyDeletion: state %q enabled %v, want Disabled", md.KeyState, md.Enabled)
			}
			if md.DeletionDate != nil || md.PendingDeletionWindowInDays != nil {
				t.Errorf("deletion fields remain after cancel: %v %v", md.DeletionDate, md.PendingDeletionWindowInDays)
			}
			_, err = n.Client.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &id})
			mustOK(t, "EnableKey after cancel", err)
			encrypt(t, n, id, []byte("usable again"), nil)
		})
	}

	// A disabled key can be scheduled too, and a key ARN names it.
	t.Run("disabled key by ARN", func(t *testing.T) {
		id := newKeyID(t, n)
		_, err := n.Client.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &id})
		mustOK(t, "DisableKey", err)
		_, err = n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyARN(id)), PendingWindowInDays: i32(7)})
		mustOK(t, "ScheduleKeyDeletion", err)
		_, err = n.Client.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: aws.String(keyARN(id))})
		mustOK(t, "CancelKeyDeletion", err)
		if s := keyState(t, n, id); s != types.KeyStateDisabled {
			t.Errorf("state %q", s)
		}
	})
}

// TestKeyDeletedAfterWindow moves the injected clock past a deletion date:
// the leader's scheduler deletes the key and its aliases, and its
// ciphertexts no longer decrypt; a key with a longer window stays.
func TestKeyDeletedAfterWindow(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	gone, stays := newKeyID(t, n), newKeyID(t, n)
	createAlias(t, n, "alias/doomed", gone)
	createAlias(t, n, "alias/doomed-2", gone)
	createAlias(t, n, "alias/survivor", stays)
	blob := encrypt(t, n, gone, []byte("last words"), nil)
	keep := encrypt(t, n, stays, []byte("still here"), nil)
	_, err := n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &gone, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion 7", err)
	_, err = n.Client.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &stays, PendingWindowInDays: i32(8)})
	mustOK(t, "ScheduleKeyDeletion 8", err)

	clk.Advance(7 * day)
	testnode.Eventually(t, 10*time.Second, "the key is deleted at the end of its window", func() bool {
		_, err := n.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &gone})
		return isA[*types.NotFoundException](err)
	})
	// The scheduler pass that deleted `gone` judged `stays` not yet due.
	if s := keyState(t, n, stays); s != types.KeyStatePendingDeletion {
		t.Fatalf("key with an 8-day window: state %q", s)
	}
	keys, err := n.Client.ListKeys(ctx(t), &awskms.ListKeysInput{})
	mustOK(t, "ListKeys", err)
	if len(keys.Keys) != 1 || aws.ToString(keys.Keys[0].KeyId) != stays {
		t.Errorf("ListKeys after deletion: %s", jsonOf(keys.Keys))
	}
	aliases, err := n.Client.ListAliases(ctx(t), &awskms.ListAliasesInput{})
	mustOK(t, "ListAliases", err)
	if len(aliases.Aliases) != 1 || aws.ToString(aliases.Aliases[0].AliasName) != "alias/survivor" {
		t.Errorf("aliases after deletion: %s", jsonOf(aliases.Aliases))
	}
	_, err = n.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob})
	if msg := wantErr(t, err, "InvalidCiphertextException"); msg != msgInvalidCiphertext {
		t.Errorf("message %q", msg)
	}
	_, err = n.Client.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &gone})
	wantErr(t, err, "NotFoundException")
	_, err = n.Client.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: &stays})
	wantErr(t, err, "KMSInvalidStateException") // the name is free again; the target is pending deletion

	// The survivor is cancelled and its old ciphertext still decrypts.
	_, err = n.Client.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &stays})
	mustOK(t, "CancelKeyDeletion", err)
	_, err = n.Client.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &stays})
	mustOK(t, "EnableKey", err)
	if got := decrypt(t, n, keep, nil).Plaintext; string(got) != "still here" {
		t.Errorf("Decrypt %q", got)
	}
	createAlias(t, n, "alias/doomed", stays)
}

// TestKeyIdForms: every operation that takes a KeyId accepts a key ID and a
// key ARN; those AWS documents as taking aliases accept an alias name and an
// alias ARN too. ARNs of another region, account or partition are not keys
// of this region.
func TestKeyIdForms(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id := newKeyID(t, n)
	createAlias(t, n, "alias/forms", id)
	forms := map[string]string{
		"key ID":    id,
		"key ARN":   keyARN(id),
		"alias":     "alias/forms",
		"alias ARN": aliasARN("alias/forms"),
	}
	blob := encrypt(t, n, id, []byte("forms"), nil)
	for name, ref := range forms {
		t.Run(name, func(t *testing.T) {
			cx := ctx(t)
			d, err := c.DescribeKey(cx, &awskms.DescribeKeyInput{KeyId: &ref})
			mustOK(t, "DescribeKey", err)
			if aws.ToString(d.KeyMetadata.KeyId) != id {
				t.Errorf("DescribeKey %s → %s", ref, aws.ToString(d.KeyMetadata.KeyId))
			}
			e, err := c.Encrypt(cx, &awskms.EncryptInput{KeyId: &ref, Plaintext: []byte("x")})
			mustOK(t, "Encrypt", err)
			if aws.ToString(e.KeyId) != keyARN(id) {
				t.Errorf("Encrypt KeyId %q", aws.ToString(e.KeyId))
			}
			dec, err := c.Decrypt(cx, &awskms.DecryptInput{CiphertextBlob: blob, KeyId: &ref})
			mustOK(t, "Decrypt with KeyId", err)
			if string(dec.Plaintext) != "forms" || aws.ToString(dec.KeyId) != keyARN(id) {
				t.Errorf("Decrypt %q %q", dec.Plaintext, aws.ToString(dec.KeyId))
			}
			g, err := c.GenerateDataKey(cx, &awskms.GenerateDataKeyInput{KeyId: &ref, KeySpec: types.DataKeySpecAes256})
			mustOK(t, "GenerateDataKey", err)
			if aws.ToString(g.KeyId) != keyARN(id) {
				t.Errorf("GenerateDataKey KeyId %q", aws.ToString(g.KeyId))
			}
			gw, err := c.GenerateDataKeyWithoutPlaintext(cx, &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &ref, NumberOfBytes: i32(16)})
			mustOK(t, "GenerateDataKeyWithoutPlaintext", err)
			if aws.ToString(gw.KeyId) != keyARN(id) {
				t.Errorf("GenerateDataKeyWithoutPlaintext KeyId %q", aws.ToString(gw.KeyId))
			}
			re, err := c.ReEncrypt(cx, &awskms.ReEncryptInput{CiphertextBlob: blob, SourceKeyId: &ref, DestinationKeyId: &ref})
			mustOK(t, "ReEncrypt", err)
			if aws.ToString(re.KeyId) != keyARN(id) || aws.ToString(re.SourceKeyId) != keyARN(id) {
				t.Errorf("ReEncrypt KeyId %q SourceKeyId %q", aws.ToString(re.KeyId), aws.ToString(re.SourceKeyId))
			}
		})
	}

	// Operations that take only a key ID or key ARN.
	keyOnly := map[string]func(ref string) error{
		"UpdateKeyDescription": func(ref string) error {
			_, err := c.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &ref, Description: aws.String("d")})
			return err
		},
		"EnableKey": func(ref string) error {
			_, err := c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &ref})
			return err
		},
		"TagResource": func(ref string) error {
			_, err := c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &ref, Tags: []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String("v")}}})
			return err
		},
		"ListResourceTags": func(ref string) error {
			_, err := c.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &ref})
			return err
		},
		"GetKeyPolicy": func(ref string) error {
			_, err := c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &ref})
			return err
		},
		"ListKeyPolicies": func(ref string) error {
			_, err := c.ListKeyPolicies(ctx(t), &awskms.ListKeyPoliciesInput{KeyId: &ref})
			return err
		},
		"GetKeyRotationStatus": func(ref string) error {
			_, err := c.GetKeyRotationStatus(ctx(t), &awskms.GetKeyRotationStatusInput{KeyId: &ref})
			return err
		},
		"ListKeyRotations": func(ref string) error {
			_, err := c.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &ref})
			return err
		},
		"EnableKeyRotation": func(ref string) error {
			_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &ref})
			return err
		},
		"ListAliases": func(ref string) error {
			_, err := c.ListAliases(ctx(t), &awskms.ListAliasesInput{KeyId: &ref})
			return err
		},
		"ListGrants": func(ref string) error {
			_, err := c.ListGrants(ctx(t), &awskms.ListGrantsInput{KeyId: &ref})
			return err
		},
	}
	for op, call := range keyOnly {
		for _, ref := range []string{id, keyARN(id)} {
			if err := call(ref); err != nil {
				t.Errorf("%s with %s: %v", op, ref, err)
			}
		}
	}

	// ARNs that do not name a key of this region are not found, whichever
	// operation reads them.
	foreign := []string{
		"arn:aws:kms:eu-west-1:" + testAccount + ":key/" + id,
		"arn:aws:kms:" + testRegion + ":444455556666:key/" + id,
		"arn:aws-cn:kms:" + testRegion + ":" + testAccount + ":key/" + id,
		"arn:aws:kms:eu-west-1:" + testAccount + ":alias/forms",
		"arn:aws:kms:" + testRegion + ":444455556666:alias/forms",
	}
	for _, ref := range foreign {
		_, err := c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &ref})
		wantErr(t, err, "NotFoundException")
		_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &ref, Plaintext: []byte("x")})
		wantErr(t, err, "NotFoundException")
		_, err = c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &ref, KeySpec: types.DataKeySpecAes128})
		wantErr(t, err, "NotFoundException")
		_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, KeyId: &ref})
		wantErr(t, err, "NotFoundException")
		_, err = c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &ref})
		wantErr(t, err, "NotFoundException")
	}
	if s := keyState(t, n, id); s != types.KeyStateEnabled {
		t.Fatalf("a foreign ARN changed the key: %q", s)
	}
}

// TestKeyIdKeyARNWithAliasResource: "arn:…:key/alias/x" is a key ARN whose
// key ID is "alias/x", which is no key; it must not resolve the alias.
func TestKeyIdKeyARNWithAliasResource(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	createAlias(t, n, "alias/sneaky", id)
	_, err := n.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: aws.String(arnPrefix + "key/alias/sneaky")})
	wantErr(t, err, "NotFoundException")
	_, err = n.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(arnPrefix + "key/alias/sneaky"), Plaintext: []byte("x")})
	wantErr(t, err, "NotFoundException")
}

func TestKeyStateDisabled(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id, other := newKeyID(t, n), newKeyID(t, n)
	blob := encrypt(t, n, id, []byte("before"), nil)
	otherBlob := encrypt(t, n, other, []byte("other"), nil)
	_, err := c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &id})
	mustOK(t, "DisableKey", err)

	checks := cryptoCalls(c, id, other, blob, otherBlob)
	for name, call := range checks {
		t.Run(name, func(t *testing.T) { wantErr(t, call(t), "DisabledException") })
	}
	// Management still works on a disabled key.
	_, err = c.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("off")})
	mustOK(t, "UpdateKeyDescription on a disabled key", err)
	_, err = c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
	mustOK(t, "TagResource on a disabled key", err)
	createAlias(t, n, "alias/of-disabled", id)

	_, err = c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &id})
	mustOK(t, "EnableKey", err)
	if got := decrypt(t, n, blob, nil).Plaintext; string(got) != "before" {
		t.Errorf("Decrypt after re-enable: %q", got)
	}
	for name, call := range checks {
		if err := call(t); err != nil {
			t.Errorf("%s after EnableKey: %v", name, err)
		}
	}
}

// cryptoCalls are the cryptographic operations on key id (blob is one of
// its ciphertexts); ReEncrypt is tried with id as source and destination.
func cryptoCalls(c *awskms.Client, id, other string, blob, otherBlob []byte) map[string]func(t *testing.T) error {
	return map[string]func(t *testing.T) error{
		"Encrypt": func(t *testing.T) error {
			_, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
			return err
		},
		"Decrypt": func(t *testing.T) error {
			_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob})
			return err
		},
		"Decrypt with KeyId": func(t *testing.T) error {
			_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, KeyId: &id})
			return err
		},
		"GenerateDataKey": func(t *testing.T) error {
			_, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256})
			return err
		},
		"GenerateDataKeyWithoutPlaintext": func(t *testing.T) error {
			_, err := c.GenerateDataKeyWithoutPlaintext(ctx(t), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: &id, NumberOfBytes: i32(8)})
			return err
		},
		"ReEncrypt from": func(t *testing.T) error {
			_, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: &other})
			return err
		},
		"ReEncrypt to": func(t *testing.T) error {
			_, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: otherBlob, DestinationKeyId: &id})
			return err
		},
	}
}

func TestKeyStatePendingDeletion(t *testing.T) {
	t.Parallel()
	n := start(t)
	c := n.Client
	id, other := newKeyID(t, n), newKeyID(t, n)
	createAlias(t, n, "alias/pending", id)
	createAlias(t, n, "alias/elsewhere", other)
	blob := encrypt(t, n, id, []byte("before"), nil)
	otherBlob := encrypt(t, n, other, []byte("other"), nil)
	_, err := c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("t"), TagValue: aws.String("v")}}})
	mustOK(t, "TagResource", err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	before := snapshot(t, n)

	for name, call := range cryptoCalls(c, id, other, blob, otherBlob) {
		t.Run(name, func(t *testing.T) { wantErr(t, call(t), "KMSInvalidStateException") })
	}
	mgmt := map[string]func(t *testing.T) error{
		"EnableKey": func(t *testing.T) error {
			_, err := c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &id})
			return err
		},
		"DisableKey": func(t *testing.T) error {
			_, err := c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &id})
			return err
		},
		"UpdateKeyDescription": func(t *testing.T) error {
			_, err := c.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &id, Description: aws.String("x")})
			return err
		},
		"TagResource": func(t *testing.T) error {
			_, err := c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
			return err
		},
		"UntagResource": func(t *testing.T) error {
			_, err := c.UntagResource(ctx(t), &awskms.UntagResourceInput{KeyId: &id, TagKeys: []string{"t"}})
			return err
		},
		"CreateAlias": func(t *testing.T) error {
			_, err := c.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/new"), TargetKeyId: &id})
			return err
		},
		"UpdateAlias": func(t *testing.T) error {
			_, err := c.UpdateAlias(ctx(t), &awskms.UpdateAliasInput{AliasName: aws.String("alias/elsewhere"), TargetKeyId: &id})
			return err
		},
		"ScheduleKeyDeletion": func(t *testing.T) error {
			_, err := c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: i32(30)})
			return err
		},
		"EnableKeyRotation": func(t *testing.T) error {
			_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id})
			return err
		},
		"DisableKeyRotation": func(t *testing.T) error {
			_, err := c.DisableKeyRotation(ctx(t), &awskms.DisableKeyRotationInput{KeyId: &id})
			return err
		},
		"RotateKeyOnDemand": func(t *testing.T) error {
			_, err := c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
			return err
		},
	}
	for name, call := range mgmt {
		t.Run(name, func(t *testing.T) { wantErr(t, call(t), "KMSInvalidStateException") })
	}
	sameState(t, n, before)

	// Reads still work.
	md := describe(t, n, "alias/pending")
	if md.KeyState != types.KeyStatePendingDeletion {
		t.Errorf("state %q", md.KeyState)
	}
	_, err = c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id})
	mustOK(t, "GetKeyPolicy on a pending-deletion key", err)

	// Cancelling leaves the key Disabled; EnableKey makes it usable, and the
	// old ciphertext decrypts again.
	_, err = c.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &id})
	mustOK(t, "CancelKeyDeletion", err)
	if s := keyState(t, n, id); s != types.KeyStateDisabled {
		t.Fatalf("after CancelKeyDeletion: %q", s)
	}
	_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &id, Plaintext: []byte("x")})
	wantErr(t, err, "DisabledException")
	_, err = c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &id})
	mustOK(t, "EnableKey", err)
	if got := decrypt(t, n, blob, nil).Plaintext; string(got) != "before" {
		t.Errorf("Decrypt %q", got)
	}
	encrypt(t, n, "alias/pending", []byte("after"), nil)

	// Cancelling a key that is not pending deletion is an invalid state.
	_, err = c.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &id})
	wantErr(t, err, "KMSInvalidStateException")
}

// TestKeyMetadataDescriptionAlwaysPresent: AWS returns "Description": ""
// for a key without a description (see the CreateKey and DescribeKey
// examples in the AWS KMS API reference); clients index it directly
// (boto3: resp["KeyMetadata"]["Description"]).
func TestKeyMetadataDescriptionAlwaysPresent(t *testing.T) {
	t.Parallel()
	n := start(t)
	for _, op := range []string{"CreateKey", "DescribeKey"} {
		body := `{}`
		if op == "DescribeKey" {
			body = `{"KeyId":"` + newKeyID(t, n) + `"}`
		}
		r := rawCall(t, n, op, []byte(body), rawOpts{})
		var m struct{ KeyMetadata map[string]any }
		if r.Status != 200 || json.Unmarshal(r.Body, &m) != nil {
			t.Fatalf("%s: %s", op, r)
		}
		if d, ok := m.KeyMetadata["Description"]; !ok || d != "" {
			t.Errorf("%s: KeyMetadata.Description %v (present %v), want \"\"", op, d, ok)
		}
	}
}
