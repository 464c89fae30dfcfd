package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/internal/testnode"
)

func rotationStatus(t testing.TB, n *testnode.Node, id string) *awskms.GetKeyRotationStatusOutput {
	t.Helper()
	out, err := n.Client.GetKeyRotationStatus(ctx(t), &awskms.GetKeyRotationStatusInput{KeyId: &id})
	mustOK(t, "GetKeyRotationStatus", err)
	return out
}

func listRotations(t testing.TB, n *testnode.Node, id string) []types.RotationsListEntry {
	t.Helper()
	var out []types.RotationsListEntry
	for p := awskms.NewListKeyRotationsPaginator(n.Client, &awskms.ListKeyRotationsInput{KeyId: &id}); p.HasMorePages(); {
		page, err := p.NextPage(ctx(t))
		mustOK(t, "ListKeyRotations", err)
		out = append(out, page.Rotations...)
	}
	return out
}

// blobVersion reads the material version a ciphertext was made with
// (crypto/blob.go format v1).
func blobVersion(t testing.TB, blob []byte) uint32 {
	t.Helper()
	h, err := crypto.ParseHeader(blob)
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	return h.Version
}

func TestKeyRotationSettings(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	c := n.Client
	id := newKeyID(t, n)

	st := rotationStatus(t, n, id)
	if aws.ToString(st.KeyId) != keyARN(id) || st.KeyRotationEnabled || st.NextRotationDate != nil || st.RotationPeriodInDays != nil || st.OnDemandRotationStartDate != nil {
		t.Fatalf("new key rotation status %s", jsonOf(st))
	}

	for _, tc := range []struct {
		period *int32
		want   int32
	}{{nil, 365}, {i32(90), 90}, {i32(2560), 2560}, {i32(365), 365}} {
		clk.Advance(time.Minute)
		_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: tc.period})
		mustOK(t, "EnableKeyRotation", err)
		st := rotationStatus(t, n, id)
		if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != tc.want {
			t.Errorf("period %v: enabled %v period %v", tc.period, st.KeyRotationEnabled, st.RotationPeriodInDays)
		}
		sameInstant(t, "NextRotationDate", st.NextRotationDate, clk.Now().Add(time.Duration(tc.want)*day))
	}

	_, err := c.DisableKeyRotation(ctx(t), &awskms.DisableKeyRotationInput{KeyId: aws.String(keyARN(id))})
	mustOK(t, "DisableKeyRotation", err)
	if st := rotationStatus(t, n, id); st.KeyRotationEnabled || st.NextRotationDate != nil {
		t.Errorf("after DisableKeyRotation: %s", jsonOf(st))
	}
	_, err = c.DisableKeyRotation(ctx(t), &awskms.DisableKeyRotationInput{KeyId: &id})
	mustOK(t, "DisableKeyRotation twice", err)

	// A disabled key: the rotation operations are DisabledException, the
	// status is still readable.
	_, err = c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id})
	mustOK(t, "EnableKeyRotation", err)
	_, err = c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &id})
	mustOK(t, "DisableKey", err)
	before := snapshot(t, n)
	_, err = c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: i32(90)})
	wantErr(t, err, "DisabledException")
	_, err = c.DisableKeyRotation(ctx(t), &awskms.DisableKeyRotationInput{KeyId: &id})
	wantErr(t, err, "DisabledException")
	_, err = c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
	wantErr(t, err, "DisabledException")
	sameState(t, n, before)
	if st := rotationStatus(t, n, id); !st.KeyRotationEnabled {
		t.Errorf("status of the disabled key: %s", jsonOf(st))
	}
}

func TestRotateKeyOnDemand(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	c := n.Client
	id := newKeyID(t, n)
	_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: i32(90)})
	mustOK(t, "EnableKeyRotation", err)
	if got := listRotations(t, n, id); len(got) != 0 {
		t.Fatalf("a new key lists rotations: %s", jsonOf(got))
	}

	blobs := [][]byte{encrypt(t, n, id, []byte("v1"), nil)}
	materials := []string{aws.ToString(describe(t, n, id).CurrentKeyMaterialId)}
	var rotatedAt []time.Time
	for i := range 3 {
		clk.Advance(time.Hour)
		out, err := c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
		mustOK(t, "RotateKeyOnDemand", err)
		if aws.ToString(out.KeyId) != keyARN(id) {
			t.Errorf("RotateKeyOnDemand KeyId %q", aws.ToString(out.KeyId))
		}
		rotatedAt = append(rotatedAt, clk.Now())
		cur := aws.ToString(describe(t, n, id).CurrentKeyMaterialId)
		for _, m := range materials {
			if cur == m {
				t.Fatalf("rotation %d: CurrentKeyMaterialId did not change", i+1)
			}
		}
		materials = append(materials, cur)
		blob := encrypt(t, n, id, []byte{'v', byte('2' + i)}, nil)
		if v := blobVersion(t, blob); v != uint32(i+2) {
			t.Errorf("after rotation %d a new ciphertext uses material version %d", i+1, v)
		}
		blobs = append(blobs, blob)
		// OnDemandRotationStartDate is not checked: AWS documents it for a
		// rotation in progress, and kmsnode's rotations complete at once.
	}
	if v := blobVersion(t, blobs[0]); v != 1 {
		t.Errorf("first ciphertext has version %d", v)
	}
	// Every ciphertext ever made still decrypts.
	for i, b := range blobs {
		if got := decrypt(t, n, b, nil).Plaintext; string(got) != string([]byte{'v', byte('1' + i)}) {
			t.Errorf("ciphertext %d decrypts to %q", i, got)
		}
	}
	// Data keys and re-encryption use the newest material.
	dk, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &id, KeySpec: types.DataKeySpecAes256})
	mustOK(t, "GenerateDataKey", err)
	if v := blobVersion(t, dk.CiphertextBlob); v != 4 {
		t.Errorf("GenerateDataKey uses version %d", v)
	}
	re, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: blobs[0], DestinationKeyId: &id})
	mustOK(t, "ReEncrypt", err)
	if v := blobVersion(t, re.CiphertextBlob); v != 4 {
		t.Errorf("ReEncrypt uses version %d", v)
	}

	// ListKeyRotations lists the three rotations, oldest first.
	rs := listRotations(t, n, id)
	if len(rs) != 3 {
		t.Fatalf("ListKeyRotations: %s", jsonOf(rs))
	}
	for i, r := range rs {
		if aws.ToString(r.KeyId) != keyARN(id) || r.RotationType != types.RotationTypeOnDemand {
			t.Errorf("rotation %d: %s", i, jsonOf(r))
		}
		if aws.ToString(r.KeyMaterialId) != materials[i+1] {
			t.Errorf("rotation %d: KeyMaterialId %q, want %q", i, aws.ToString(r.KeyMaterialId), materials[i+1])
		}
		want := types.KeyMaterialStateNonCurrent
		if i == 2 {
			want = types.KeyMaterialStateCurrent
		}
		if r.KeyMaterialState != want {
			t.Errorf("rotation %d: KeyMaterialState %q, want %q", i, r.KeyMaterialState, want)
		}
		sameInstant(t, "RotationDate", r.RotationDate, rotatedAt[i])
	}
	// Paged one at a time.
	var paged []types.RotationsListEntry
	var marker *string
	for range 5 {
		out, err := c.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &id, Limit: i32(1), Marker: marker})
		mustOK(t, "ListKeyRotations", err)
		paged = append(paged, out.Rotations...)
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if jsonOf(paged) != jsonOf(rs) {
		t.Errorf("paged rotations %s\nwant %s", jsonOf(paged), jsonOf(rs))
	}
}

// TestAutomaticRotation moves the injected clock: an on-demand rotation
// while an automatic one is due within 20 minutes is a ConflictException,
// and once due the leader's scheduler rotates the key.
func TestAutomaticRotation(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	c := n.Client
	id, off := newKeyID(t, n), newKeyID(t, n)
	for _, k := range []string{id, off} {
		_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &k, RotationPeriodInDays: i32(90)})
		mustOK(t, "EnableKeyRotation", err)
	}
	_, err := c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &off})
	mustOK(t, "DisableKey", err)
	old := encrypt(t, n, id, []byte("before rotation"), nil)
	due := clk.Now().Add(90 * day)

	clk.Advance(90*day - 10*time.Minute)
	before := snapshot(t, n)
	_, err = c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
	wantErr(t, err, "ConflictException")
	sameState(t, n, before)

	clk.Advance(10 * time.Minute)
	testnode.Eventually(t, 10*time.Second, "the scheduler rotates the key", func() bool {
		return len(listRotations(t, n, id)) == 1
	})
	r := listRotations(t, n, id)[0]
	if r.RotationType != types.RotationTypeAutomatic || r.KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Errorf("automatic rotation entry %s", jsonOf(r))
	}
	sameInstant(t, "RotationDate", r.RotationDate, due)
	st := rotationStatus(t, n, id)
	sameInstant(t, "NextRotationDate", st.NextRotationDate, due.Add(90*day))
	if got := decrypt(t, n, old, nil).Plaintext; string(got) != "before rotation" {
		t.Errorf("old ciphertext: %q", got)
	}
	if v := blobVersion(t, encrypt(t, n, id, []byte("after"), nil)); v != 2 {
		t.Errorf("new ciphertext uses version %d", v)
	}
	// The disabled key was due too, but a disabled key does not rotate.
	if rs := listRotations(t, n, off); len(rs) != 0 {
		t.Errorf("the disabled key rotated: %s", jsonOf(rs))
	}
	// Well before the next automatic rotation, on-demand works again.
	_, err = c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
	mustOK(t, "RotateKeyOnDemand", err)
}

// TestListKeyRotationsAllKeyMaterial: IncludeKeyMaterial ALL_KEY_MATERIAL
// adds the key's first material to the listing (ROTATIONS_ONLY, the
// default, lists rotations only).
func TestListKeyRotationsAllKeyMaterial(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	first := aws.ToString(describe(t, n, id).CurrentKeyMaterialId)
	out, err := n.Client.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	mustOK(t, "ListKeyRotations", err)
	if len(out.Rotations) != 1 || aws.ToString(out.Rotations[0].KeyMaterialId) != first || out.Rotations[0].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("ALL_KEY_MATERIAL on a new key lists %s, want its one material %s", jsonOf(out.Rotations), first)
	}
	_, err = n.Client.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
	mustOK(t, "RotateKeyOnDemand", err)
	out, err = n.Client.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &id, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	mustOK(t, "ListKeyRotations", err)
	if len(out.Rotations) != 2 || aws.ToString(out.Rotations[0].KeyMaterialId) != first || out.Rotations[0].KeyMaterialState != types.KeyMaterialStateNonCurrent {
		t.Fatalf("ALL_KEY_MATERIAL after one rotation lists %s", jsonOf(out.Rotations))
	}
	// The default still lists rotations only.
	if rs := listRotations(t, n, id); len(rs) != 1 {
		t.Fatalf("ROTATIONS_ONLY lists %s", jsonOf(rs))
	}
}
