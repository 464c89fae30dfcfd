package node_test

// The leader's scheduler, driven by an injected ManualClock: keys are
// deleted (with their aliases and material) when their waiting period ends
// and not before, CancelKeyDeletion stops that, and automatic rotation
// happens when due, not for disabled keys, keeping every old version.
//
// A test cannot wait for "nothing happened". Where it must show that the
// scheduler left a key alone, it makes a sentinel key due at the same
// instant and waits for the scheduler to act on the sentinel: the scheduler
// reads the clock once per pass and handles everything due in that pass.

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

const pollMax = 15 * time.Second

func sameInstant(t testing.TB, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// gone reports whether DescribeKey says NotFoundException for id.
func gone(t testing.TB, c *awskms.Client, id string) bool {
	t.Helper()
	_, err := c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
	switch errCode(err) {
	case "":
		return false
	case "NotFoundException":
		return true
	}
	t.Fatalf("DescribeKey %s: %v", id, err)
	return false
}

func scheduleDeletion(t testing.TB, c *awskms.Client, id string, days int32) *awskms.ScheduleKeyDeletionOutput {
	t.Helper()
	out, err := c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: &days})
	mustOK(t, "ScheduleKeyDeletion "+id, err)
	return out
}

func TestScheduledDeletion(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	dir := t.TempDir()
	n := start(t, testnode.WithClock(clk), testnode.WithDataDir(dir))
	c := n.Client
	t0 := clk.Now()

	sentinel := newKey(t, c, nil)
	scheduleDeletion(t, c, sentinel, 7) // due t0+7d

	clk.Advance(day)
	doomed := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("doomed")})
	saved := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("saved by cancel")})
	keep := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("never scheduled")})
	createAlias(t, c, "alias/doomed", doomed)
	createAlias(t, c, "alias/doomed-2", doomed)
	createAlias(t, c, "alias/saved", saved)
	createAlias(t, c, "alias/keep", keep)
	ctDoomed := encrypt(t, c, "doomed", doomed, doomed, map[string]string{"k": "v"})
	ctSaved := encrypt(t, c, "saved", saved, saved, nil)
	ctKeep := encrypt(t, c, "keep", keep, keep, nil)
	// Rotated material goes too: the doomed key has two versions.
	_, err := c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &doomed})
	mustOK(t, "RotateKeyOnDemand", err)
	ctDoomed2 := encrypt(t, c, "doomed v2", doomed, doomed, nil)

	for _, id := range []string{doomed, saved} {
		out := scheduleDeletion(t, c, id, 7)
		sameInstant(t, "DeletionDate", out.DeletionDate, t0.Add(8*day))
		if out.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(out.PendingWindowInDays) != 7 {
			t.Fatalf("ScheduleKeyDeletion: %s", jsonOf(out))
		}
	}

	// Six days into the doomed key's window the sentinel is due: once the
	// scheduler has deleted it, it has looked at the doomed key at this
	// time too and must have left it alone.
	clk.Advance(6 * day)
	testnode.Eventually(t, pollMax, "the scheduler deletes the sentinel at the end of its window", func() bool {
		return gone(t, c, sentinel)
	})
	md := describe(t, c, doomed)
	if md.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("6 days into a 7-day window the key is %s", md.KeyState)
	}
	sameInstant(t, "DeletionDate", md.DeletionDate, t0.Add(8*day))
	if !hasAlias(allAliases(t, c), "alias/doomed") || !hasKey(allKeys(t, c), doomed) {
		t.Fatal("6 days into the window the key or its alias is already gone")
	}
	_, err = c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: ctDoomed.blob, EncryptionContext: ctDoomed.ec})
	wantErr(t, err, "KMSInvalidStateException")

	// Cancelling before the date saves the key (Disabled, as in AWS).
	_, err = c.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &saved})
	mustOK(t, "CancelKeyDeletion", err)

	// Past the deletion date the scheduler deletes the doomed key.
	clk.Advance(day + time.Second)
	testnode.Eventually(t, pollMax, "the scheduler deletes the key after its window", func() bool {
		return gone(t, c, doomed)
	})
	for _, ref := range []string{"alias/doomed", "arn:aws:kms:us-east-1:111122223333:key/" + doomed} {
		_, err := c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: aws.String(ref)})
		wantErr(t, err, "NotFoundException")
	}
	checkDeleted := func(c *awskms.Client) {
		t.Helper()
		as := allAliases(t, c)
		for _, a := range as {
			if aws.ToString(a.TargetKeyId) == doomed {
				t.Fatalf("alias %s of the deleted key is still listed", aws.ToString(a.AliasName))
			}
		}
		if !hasAlias(as, "alias/saved") || !hasAlias(as, "alias/keep") {
			t.Fatalf("other keys' aliases went too: %s", jsonOf(as))
		}
		ks := allKeys(t, c)
		if hasKey(ks, doomed) || hasKey(ks, sentinel) {
			t.Fatal("ListKeys still lists a deleted key")
		}
		if !hasKey(ks, saved) || !hasKey(ks, keep) {
			t.Fatal("ListKeys lost a key that was not deleted")
		}
		// Ciphertexts of a deleted key: the same answer as a forged blob.
		for _, s := range []sealed{ctDoomed, ctDoomed2} {
			_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: s.blob, EncryptionContext: s.ec})
			wantErr(t, err, "InvalidCiphertextException")
		}
		_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: ctDoomed.blob, EncryptionContext: ctDoomed.ec, KeyId: &doomed})
		wantErr(t, err, "NotFoundException")
		_, err = c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String("alias/doomed-2"), Plaintext: []byte("x")})
		wantErr(t, err, "NotFoundException")
		_, err = c.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &doomed})
		wantErr(t, err, "NotFoundException")
		if _, ok := n.FSM().Key(doomed); ok {
			t.Fatal("the FSM still holds the deleted key")
		}
		ms := describe(t, c, saved)
		if ms.KeyState != types.KeyStateDisabled || ms.DeletionDate != nil || ms.PendingDeletionWindowInDays != nil {
			t.Fatalf("cancelled key: %s", jsonOf(ms))
		}
		mustDecrypt(t, c, ctKeep)
	}
	checkDeleted(c)
	// The alias name is free again.
	createAlias(t, c, "alias/doomed", keep)

	// The deletion is durable.
	mustOK(t, "Close", n.Close())
	n = start(t, testnode.WithClock(clk), testnode.WithDataDir(dir))
	checkDeleted(n.Client)
	_, err = n.Client.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &saved})
	mustOK(t, "EnableKey", err)
	mustDecrypt(t, n.Client, ctSaved)
}

func TestAutomaticRotationSchedule(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	c := n.Client
	t0 := clk.Now()

	rot := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("rotates every 90 days")})
	off := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("rotation on, key disabled")})
	never := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("rotation off")})
	for _, id := range []string{rot, off} {
		_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: i32(90)})
		mustOK(t, "EnableKeyRotation", err)
		st := rotationStatus(t, c, id)
		sameInstant(t, "NextRotationDate", st.NextRotationDate, t0.Add(90*day))
		if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 {
			t.Fatalf("rotation status: %s", jsonOf(st))
		}
	}
	ct1 := encrypt(t, c, "rot v1", rot, rot, map[string]string{"v": "1"})
	ctOff := encrypt(t, c, "off v1", off, off, nil)
	ctNever := encrypt(t, c, "never v1", never, never, nil)
	offMaterial := describe(t, c, off).CurrentKeyMaterialId
	_, err := c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &off})
	mustOK(t, "DisableKey", err)

	// 91 days on: the enabled key rotates once, automatically.
	clk.Advance(91 * day)
	t1 := clk.Now()
	testnode.Eventually(t, pollMax, "the scheduler rotates the due key", func() bool {
		return len(listRotations(t, c, rot)) > 0
	})
	rs := listRotations(t, c, rot)
	if len(rs) != 1 || rs[0].RotationType != types.RotationTypeAutomatic || rs[0].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("after one due date: rotations %s", jsonOf(rs))
	}
	sameInstant(t, "RotationDate", rs[0].RotationDate, t1)
	st := rotationStatus(t, c, rot)
	sameInstant(t, "NextRotationDate", st.NextRotationDate, t1.Add(90*day))
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 {
		t.Fatalf("rotation status after the rotation: %s", jsonOf(st))
	}
	mustDecrypt(t, c, ct1)
	ct2 := encrypt(t, c, "rot v2", rot, rot, nil)
	if v := blobVersion(t, ct2.blob); v != 2 {
		t.Fatalf("after the automatic rotation Encrypt uses version %d", v)
	}
	if md := describe(t, c, rot); aws.ToString(md.CurrentKeyMaterialId) != aws.ToString(rs[0].KeyMaterialId) {
		t.Fatalf("CurrentKeyMaterialId %s, the rotation made %s", aws.ToString(md.CurrentKeyMaterialId), aws.ToString(rs[0].KeyMaterialId))
	}

	// The disabled key was due in the same pass but does not rotate while
	// disabled; the key without rotation does not either.
	if rs := listRotations(t, c, off); len(rs) != 0 {
		t.Fatalf("the disabled key rotated: %s", jsonOf(rs))
	}
	if md := describe(t, c, off); aws.ToString(md.CurrentKeyMaterialId) != aws.ToString(offMaterial) {
		t.Fatal("the disabled key's current material changed")
	}
	if rs := listRotations(t, c, never); len(rs) != 0 {
		t.Fatalf("the key without automatic rotation rotated: %s", jsonOf(rs))
	}

	// Enabled again with its rotation overdue, it rotates at the next pass
	// (AWS: at once when re-enabled past its date).
	_, err = c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &off})
	mustOK(t, "EnableKey", err)
	testnode.Eventually(t, pollMax, "the re-enabled overdue key rotates", func() bool {
		return len(listRotations(t, c, off)) > 0
	})
	if rs := listRotations(t, c, off); len(rs) != 1 || rs[0].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("re-enabled key: rotations %s", jsonOf(rs))
	}
	sameInstant(t, "NextRotationDate", rotationStatus(t, c, off).NextRotationDate, t1.Add(90*day))
	mustDecrypt(t, c, ctOff)
	// That later pass did not rotate the first key a second time.
	if rs := listRotations(t, c, rot); len(rs) != 1 {
		t.Fatalf("the key rotated twice for one due date: %s", jsonOf(rs))
	}

	// Another period: both rotate again; every old version still decrypts.
	clk.Advance(90 * day)
	t2 := clk.Now()
	testnode.Eventually(t, pollMax, "the second automatic rotations", func() bool {
		return len(listRotations(t, c, rot)) == 2 && len(listRotations(t, c, off)) == 2
	})
	rs = listRotations(t, c, rot)
	if rs[0].KeyMaterialState != types.KeyMaterialStateNonCurrent || rs[1].KeyMaterialState != types.KeyMaterialStateCurrent ||
		rs[1].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("after two rotations: %s", jsonOf(rs))
	}
	sameInstant(t, "second RotationDate", rs[1].RotationDate, t2)
	sameInstant(t, "NextRotationDate", rotationStatus(t, c, rot).NextRotationDate, t2.Add(90*day))
	for _, s := range []sealed{ct1, ct2, ctOff, ctNever} {
		mustDecrypt(t, c, s)
	}
	if v := blobVersion(t, encrypt(t, c, "rot v3", rot, rot, nil).blob); v != 3 {
		t.Fatalf("after two rotations Encrypt uses version %d", v)
	}
}

func TestOnDemandRotationNearAutomatic(t *testing.T) {
	t.Parallel()
	clk := manualClock()
	n := start(t, testnode.WithClock(clk))
	c := n.Client
	t0 := clk.Now()
	id := newKey(t, c, nil)
	_, err := c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &id, RotationPeriodInDays: i32(90)})
	mustOK(t, "EnableKeyRotation", err)
	due := t0.Add(90 * day)
	rotate := func() error {
		_, err := c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &id})
		return err
	}

	// 21 minutes before the automatic rotation: allowed.
	clk.Advance(90*day - 21*time.Minute)
	mustOK(t, "RotateKeyOnDemand 21 minutes before the due date", rotate())
	st := rotationStatus(t, c, id)
	sameInstant(t, "OnDemandRotationStartDate", st.OnDemandRotationStartDate, clk.Now())
	sameInstant(t, "NextRotationDate (unchanged by on-demand)", st.NextRotationDate, due)

	// Within 20 minutes of it: ConflictException, nothing changes.
	for _, before := range []time.Duration{19 * time.Minute, time.Minute, time.Millisecond} {
		clk.Advance(due.Sub(clk.Now()) - before)
		wantErr(t, rotate(), "ConflictException")
		if rs := listRotations(t, c, id); len(rs) != 1 {
			t.Fatalf("a refused on-demand rotation changed the key: %s", jsonOf(rs))
		}
	}

	// Once the scheduler has rotated, on-demand works again.
	clk.Advance(time.Millisecond)
	testnode.Eventually(t, pollMax, "the automatic rotation", func() bool {
		return len(listRotations(t, c, id)) == 2
	})
	rs := listRotations(t, c, id)
	if rs[0].RotationType != types.RotationTypeOnDemand || rs[1].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("rotations: %s", jsonOf(rs))
	}
	mustOK(t, "RotateKeyOnDemand after the automatic rotation", rotate())
	if v := blobVersion(t, encrypt(t, c, "v4", id, id, nil).blob); v != 4 {
		t.Fatalf("Encrypt uses version %d, want 4", v)
	}
}
