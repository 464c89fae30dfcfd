package node_test

// Restart durability: everything a region holds (keys, states, descriptions,
// aliases, tags, policies, rotation settings and history, deletion dates)
// survives a stop and start on the same data directory, whether the state
// comes back from the Raft log, from a snapshot, or from a snapshot plus the
// log written after it; and every ciphertext made before still decrypts.

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// restartFixture is what populate made: key IDs by role, the ciphertexts
// and the data keys that must decrypt after a restart.
type restartFixture struct {
	plain, rot, dis, doomed, mrk string
	cts                          []sealed
}

const customPolicy = `{"Version":"2012-10-17","Id":"restart-test","Statement":[{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

// populate creates keys in every state with aliases, tags, policies,
// rotations and ciphertexts under every material version.
func populate(t *testing.T, c *awskms.Client) *restartFixture {
	t.Helper()
	fx := &restartFixture{}
	ec := map[string]string{"app": "restart", "ab": "c"}

	// An Enabled key with a description, tags (one replaced, one removed),
	// two aliases, and rotation enabled then disabled again.
	fx.plain = newKey(t, c, &awskms.CreateKeyInput{
		Description: aws.String("restart: plain key"),
		Tags: []types.Tag{
			{TagKey: aws.String("env"), TagValue: aws.String("test")},
			{TagKey: aws.String("team"), TagValue: aws.String("kms")},
			{TagKey: aws.String("gone"), TagValue: aws.String("soon")},
		},
	})
	_, err := c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &fx.plain, Tags: []types.Tag{
		{TagKey: aws.String("env"), TagValue: aws.String("prod")},
		{TagKey: aws.String("cost-center"), TagValue: aws.String("42")},
	}})
	mustOK(t, "TagResource", err)
	_, err = c.UntagResource(ctx(t), &awskms.UntagResourceInput{KeyId: &fx.plain, TagKeys: []string{"gone"}})
	mustOK(t, "UntagResource", err)
	createAlias(t, c, "alias/restart/plain", fx.plain)
	createAlias(t, c, "alias/restart/plain-2", fx.plain)
	createAlias(t, c, "alias/restart/moving", fx.plain)
	createAlias(t, c, "alias/restart/deleted", fx.plain)
	_, err = c.DeleteAlias(ctx(t), &awskms.DeleteAliasInput{AliasName: aws.String("alias/restart/deleted")})
	mustOK(t, "DeleteAlias", err)
	_, err = c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &fx.plain})
	mustOK(t, "EnableKeyRotation plain", err)
	_, err = c.DisableKeyRotation(ctx(t), &awskms.DisableKeyRotationInput{KeyId: &fx.plain})
	mustOK(t, "DisableKeyRotation plain", err)
	fx.cts = append(fx.cts,
		encrypt(t, c, "plain by alias", "alias/restart/plain", fx.plain, ec),
		encrypt(t, c, "plain by id", fx.plain, fx.plain, nil))

	// A key with automatic rotation enabled and two on-demand rotations,
	// with ciphertexts under each of its three material versions.
	fx.rot = newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("restart: rotating key")})
	_, err = c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &fx.rot, RotationPeriodInDays: i32(180)})
	mustOK(t, "EnableKeyRotation rot", err)
	fx.cts = append(fx.cts, encrypt(t, c, "rot v1", fx.rot, fx.rot, ec))
	for i := 2; i <= 3; i++ {
		_, err = c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &fx.rot})
		mustOK(t, "RotateKeyOnDemand", err)
		s := encrypt(t, c, "rot v"+strconv.Itoa(i), fx.rot, fx.rot, ec)
		if v := blobVersion(t, s.blob); v != uint32(i) {
			t.Fatalf("after %d rotations Encrypt uses version %d", i-1, v)
		}
		fx.cts = append(fx.cts, s)
	}
	createAlias(t, c, "alias/restart/rot", fx.rot)
	_, err = c.UpdateAlias(ctx(t), &awskms.UpdateAliasInput{AliasName: aws.String("alias/restart/moving"), TargetKeyId: &fx.rot})
	mustOK(t, "UpdateAlias", err)
	fx.cts = append(fx.cts, encrypt(t, c, "rot by moved alias", "alias/restart/moving", fx.rot, nil))

	// A disabled key, with a ciphertext made while it was enabled.
	fx.dis = newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("restart: disabled key"),
		Tags: []types.Tag{{TagKey: aws.String("state"), TagValue: aws.String("off")}}})
	fx.cts = append(fx.cts, encrypt(t, c, "dis", fx.dis, fx.dis, ec))
	_, err = c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &fx.dis})
	mustOK(t, "DisableKey", err)

	// A key scheduled for deletion, with an alias and a ciphertext.
	fx.doomed = newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("restart: doomed key")})
	createAlias(t, c, "alias/restart/doomed", fx.doomed)
	fx.cts = append(fx.cts, encrypt(t, c, "doomed", "alias/restart/doomed", fx.doomed, nil))
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &fx.doomed, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)

	// A multi-Region key with its own policy and an updated description,
	// a data key under it, and a ciphertext re-encrypted to it.
	fx.mrk = newKey(t, c, &awskms.CreateKeyInput{MultiRegion: aws.Bool(true), Policy: aws.String(customPolicy)})
	_, err = c.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &fx.mrk, Description: aws.String("restart: mrk, described later")})
	mustOK(t, "UpdateKeyDescription", err)
	dk, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &fx.mrk, KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	mustOK(t, "GenerateDataKey", err)
	fx.cts = append(fx.cts, sealed{what: "data key", keyID: fx.mrk, blob: dk.CiphertextBlob, plaintext: dk.Plaintext, ec: ec})
	src := fx.cts[0]
	re, err := c.ReEncrypt(ctx(t), &awskms.ReEncryptInput{CiphertextBlob: src.blob, SourceEncryptionContext: src.ec,
		DestinationKeyId: &fx.mrk, DestinationEncryptionContext: map[string]string{"re": "encrypted"}})
	mustOK(t, "ReEncrypt", err)
	fx.cts = append(fx.cts, sealed{what: "re-encrypted", keyID: fx.mrk, blob: re.CiphertextBlob, plaintext: src.plaintext,
		ec: map[string]string{"re": "encrypted"}})
	return fx
}

// writeMore changes the region again (meant for after a snapshot, so the
// restart replays these from the log on top of the snapshot).
func writeMore(t *testing.T, c *awskms.Client, fx *restartFixture) {
	t.Helper()
	_, err := c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &fx.rot})
	mustOK(t, "RotateKeyOnDemand", err)
	fx.cts = append(fx.cts, encrypt(t, c, "rot v4 (after snapshot)", "alias/restart/rot", fx.rot, nil))
	late := newKey(t, c, &awskms.CreateKeyInput{Description: aws.String("restart: created after the snapshot"),
		Tags: []types.Tag{{TagKey: aws.String("late"), TagValue: aws.String("yes")}}})
	createAlias(t, c, "alias/restart/late", late)
	fx.cts = append(fx.cts, encrypt(t, c, "late", late, late, map[string]string{"late": "1"}))
	_, err = c.UpdateAlias(ctx(t), &awskms.UpdateAliasInput{AliasName: aws.String("alias/restart/moving"), TargetKeyId: &late})
	mustOK(t, "UpdateAlias", err)
	_, err = c.DeleteAlias(ctx(t), &awskms.DeleteAliasInput{AliasName: aws.String("alias/restart/plain-2")})
	mustOK(t, "DeleteAlias", err)
	_, err = c.UntagResource(ctx(t), &awskms.UntagResourceInput{KeyId: &fx.plain, TagKeys: []string{"team"}})
	mustOK(t, "UntagResource", err)
	_, err = c.PutKeyPolicy(ctx(t), &awskms.PutKeyPolicyInput{KeyId: &fx.rot, PolicyName: aws.String("default"), Policy: aws.String(customPolicy)})
	mustOK(t, "PutKeyPolicy", err)
	_, err = c.UpdateKeyDescription(ctx(t), &awskms.UpdateKeyDescriptionInput{KeyId: &fx.dis, Description: aws.String("restart: disabled, described after the snapshot")})
	mustOK(t, "UpdateKeyDescription", err)
	_, err = c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &fx.plain})
	mustOK(t, "DisableKey plain", err)
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &fx.mrk, PendingWindowInDays: i32(30)})
	mustOK(t, "ScheduleKeyDeletion mrk", err)
}

// checkCiphertexts decrypts every ciphertext of fx. Keys that are Disabled
// or PendingDeletion (per view) must first refuse with AWS's error, then
// are brought back (CancelKeyDeletion, EnableKey) and must decrypt.
func checkCiphertexts(t *testing.T, c *awskms.Client, fx *restartFixture, view regionView) {
	t.Helper()
	revived := map[string]bool{}
	for _, s := range fx.cts {
		kv, ok := view.PerKey[s.keyID]
		if !ok {
			t.Fatalf("key %s of ciphertext %q is not in the region", s.keyID, s.what)
		}
		if revived[s.keyID] {
			mustDecrypt(t, c, s)
			continue
		}
		_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: s.blob, EncryptionContext: s.ec})
		switch kv.Metadata.KeyState {
		case types.KeyStateEnabled:
			mustDecrypt(t, c, s)
			continue
		case types.KeyStateDisabled:
			wantErr(t, err, "DisabledException")
		case types.KeyStatePendingDeletion:
			wantErr(t, err, "KMSInvalidStateException")
			_, err := c.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &s.keyID})
			mustOK(t, "CancelKeyDeletion", err)
		default:
			t.Fatalf("key %s is %s", s.keyID, kv.Metadata.KeyState)
		}
		_, err = c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &s.keyID})
		mustOK(t, "EnableKey", err)
		revived[s.keyID] = true
		mustDecrypt(t, c, s)
	}
}

// trailingLogs makes Raft keep only n log entries behind a snapshot, so a
// restart after a snapshot cannot rebuild the state from the log alone.
func trailingLogs(n uint64) testnode.Option {
	return func(c *node.Config) { c.TrailingLogs = n }
}

// firstLogIndex opens a closed node's raft.db read-only and returns the
// index of its first log entry.
func firstLogIndex(t *testing.T, dir string) uint64 {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft", "raft.db"),
		BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second},
	})
	mustOK(t, "open raft.db", err)
	defer store.Close()
	first, err := store.FirstIndex()
	mustOK(t, "FirstIndex", err)
	return first
}

func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		snapshot    bool // force a Raft snapshot (with log compaction) before closing
		writesAfter bool // and change the region after it
	}{
		{name: "LogReplay"},
		{name: "FromSnapshot", snapshot: true},
		{name: "SnapshotPlusLog", snapshot: true, writesAfter: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			n := start(t, testnode.WithDataDir(dir), trailingLogs(1))
			fx := populate(t, n.Client)
			var appliedAtSnapshot uint64
			if tc.snapshot {
				appliedAtSnapshot = n.FSM().AppliedIndex()
				mustOK(t, "Snapshot", n.Cluster().Snapshot())
				snaps, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin"))
				if len(snaps) == 0 {
					t.Fatal("the forced snapshot wrote no raft/snapshots/*/state.bin")
				}
			}
			if tc.writesAfter {
				writeMore(t, n.Client, fx)
			}
			before := capture(t, n.Client)
			if len(before.Keys) < 5 || len(before.Aliases) < 4 {
				t.Fatalf("fixture too small: %d keys, %d aliases", len(before.Keys), len(before.Aliases))
			}
			mustOK(t, "Close", n.Close())

			if tc.snapshot {
				// The log before the snapshot is gone: the restart can only
				// find the keys in the snapshot.
				if first := firstLogIndex(t, dir); first < appliedAtSnapshot || first <= 1 {
					t.Fatalf("log not compacted: first index %d, last command before the snapshot %d", first, appliedAtSnapshot)
				}
			}

			n2 := start(t, testnode.WithDataDir(dir), trailingLogs(1))
			snapIdx := n2.Cluster().Stats()["last_snapshot_index"]
			if tc.snapshot != (snapIdx != "0") {
				t.Fatalf("last_snapshot_index after restart = %s (snapshot mode %v)", snapIdx, tc.snapshot)
			}
			if n2.CreatedUnsealKey {
				t.Fatal("the restart created a new unseal key")
			}
			after := capture(t, n2.Client)
			sameView(t, "restart", before, after)
			checkCiphertexts(t, n2.Client, fx, after)

			// The restarted region keeps working: the rotating key rotates
			// once more and Encrypt uses the new version.
			rotations := len(after.PerKey[fx.rot].Rotations)
			_, err := n2.Client.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &fx.rot})
			mustOK(t, "RotateKeyOnDemand after restart", err)
			s := encrypt(t, n2.Client, "rot after restart", fx.rot, fx.rot, nil)
			if v := blobVersion(t, s.blob); v != uint32(rotations+2) {
				t.Fatalf("after restart and one more rotation Encrypt uses version %d, want %d", v, rotations+2)
			}
			fx.cts = append(fx.cts, s)

			// A second restart (after a snapshot restore, onto the log
			// written since) gives the same state again.
			again := capture(t, n2.Client)
			mustOK(t, "Close", n2.Close())
			n3 := start(t, testnode.WithDataDir(dir), trailingLogs(1))
			sameView(t, "second restart", again, capture(t, n3.Client))
			for _, s := range fx.cts {
				mustDecrypt(t, n3.Client, s)
			}
		})
	}
}

// TestRestartAuditAppends: a restart appends to the existing audit log
// rather than truncating it.
func TestRestartAuditAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := start(t, testnode.WithDataDir(dir))
	id := newKey(t, n.Client, nil)
	s := encrypt(t, n.Client, "audit", id, id, nil)
	mustOK(t, "Close", n.Close())
	auditPath := filepath.Join(dir, "audit.log")
	first := readFile(t, auditPath)
	if !bytes.Contains(first, []byte(id)) {
		t.Fatalf("audit.log does not mention the key %s:\n%s", id, first)
	}
	n2 := start(t, testnode.WithDataDir(dir))
	mustDecrypt(t, n2.Client, s)
	mustOK(t, "Close", n2.Close())
	second := readFile(t, auditPath)
	if !bytes.HasPrefix(second, first) || len(second) == len(first) {
		t.Fatalf("audit.log was not appended to across the restart (%d → %d bytes)", len(first), len(second))
	}
}
