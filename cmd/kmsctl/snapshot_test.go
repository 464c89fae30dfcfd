package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/opclient"
	"github.com/kmsnode/kmsnode/internal/testcluster"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// cli runs kmsctl and fails the test unless it exits 0.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(args...)
	if code != 0 {
		t.Fatalf("kmsctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// cliFails runs kmsctl, expects exit 1 and returns stdout+stderr.
func cliFails(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(args...)
	if code != 1 {
		t.Fatalf("kmsctl %s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out + errOut
}

// regionState is what a restore must bring back, read through the API.
type regionState struct {
	Aliases []string
	Keys    map[string]string // key ID → description
	Policy  string            // of the policy key
}

func readState(t *testing.T, c *awskms.Client, policyKey string) regionState {
	t.Helper()
	ctx := testnode.Ctx(t)
	st := regionState{Keys: map[string]string{}}
	al, err := c.ListAliases(ctx, &awskms.ListAliasesInput{})
	testnode.MustOK(t, "ListAliases", err)
	for _, a := range al.Aliases {
		st.Aliases = append(st.Aliases, *a.AliasName+"→"+aws.ToString(a.TargetKeyId))
	}
	var marker *string
	for {
		ks, err := c.ListKeys(ctx, &awskms.ListKeysInput{Marker: marker})
		testnode.MustOK(t, "ListKeys", err)
		for _, k := range ks.Keys {
			d, err := c.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: k.KeyId})
			testnode.MustOK(t, "DescribeKey", err)
			st.Keys[*k.KeyId] = aws.ToString(d.KeyMetadata.Description)
		}
		if !ks.Truncated {
			break
		}
		marker = ks.NextMarker
	}
	p, err := c.GetKeyPolicy(ctx, &awskms.GetKeyPolicyInput{KeyId: &policyKey, PolicyName: aws.String("default")})
	testnode.MustOK(t, "GetKeyPolicy", err)
	st.Policy = aws.ToString(p.Policy)
	return st
}

// TestSnapshotSaveRestoreCluster is the backup story end to end: region A
// (3 nodes) with keys, an alias, a key policy, an identity, a grant and
// ciphertexts is saved through a follower under a light write load; a new
// region B (3 nodes, same region name and unseal key) refuses a damaged
// file, a body that is not the signed one and another region's snapshot,
// with nothing changed; then restores A's snapshot, after which every node
// of B decrypts A's ciphertexts, the identity's access key and grant work,
// and a restarted node comes back (its audit key was re-sealed under the
// restored keyring). kmsctl status is checked on B.
func TestSnapshotSaveRestoreCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two 3-node regions")
	}
	a := testcluster.Start(t, 3)
	region := a.Nodes[0].Config.Region
	devEnv(t, region)
	ctx := testnode.Ctx(t)
	la := a.Leader()
	c := la.Client

	// Region A's contents.
	k1, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("payments")})
	testnode.MustOK(t, "CreateKey", err)
	keyID := *k1.KeyMetadata.KeyId
	_, err = c.CreateAlias(ctx, &awskms.CreateAliasInput{AliasName: aws.String("alias/payments"), TargetKeyId: &keyID})
	testnode.MustOK(t, "CreateAlias", err)
	devARN := "arn:aws:iam::" + node.DevAccountID + ":user/kmsnode-dev"
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"operator","Effect":"Allow","Principal":{"AWS":"` + devARN + `"},"Action":"kms:*","Resource":"*"}]}`
	k2, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("granted"), Policy: &policy})
	testnode.MustOK(t, "CreateKey with a policy", err)
	grantedID := *k2.KeyMetadata.KeyId
	var app struct {
		Identity  struct{ Arn string }
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	appPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
	testnode.MustOK(t, "CreateIdentity", testnode.OperatorCall(ctx, la.URL(), region, node.DevAccessKeyID, node.DevSecretAccessKey,
		"CreateIdentity", map[string]any{"Identity": "app", "PolicyName": "kms", "PolicyDocument": appPolicy}, &app))
	_, err = c.CreateGrant(ctx, &awskms.CreateGrantInput{KeyId: &grantedID, GranteePrincipal: &app.Identity.Arn,
		Operations: []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt}})
	testnode.MustOK(t, "CreateGrant", err)
	appA := testnode.NewClient(la.URL(), region, app.AccessKey.AccessKeyId, app.AccessKey.SecretAccessKey)
	// The key policy does not trust the account: the grant is what lets
	// the identity in, and only for Encrypt and Decrypt.
	_, err = appA.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: &grantedID})
	testnode.WantErr(t, err, "AccessDeniedException")
	encCtx := map[string]string{"purpose": "backup-test"}
	e1, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/payments"), Plaintext: []byte("made in region A"), EncryptionContext: encCtx})
	testnode.MustOK(t, "Encrypt", err)
	e2, err := appA.Encrypt(ctx, &awskms.EncryptInput{KeyId: &grantedID, Plaintext: []byte("through the grant")})
	testnode.MustOK(t, "Encrypt through the grant", err)

	// An identity without kmsnode:SnapshotSave is refused.
	err = testnode.OperatorCall(ctx, la.URL(), region, app.AccessKey.AccessKeyId, app.AccessKey.SecretAccessKey, "SnapshotSave", struct{}{}, nil)
	var oe *testnode.OperatorError
	if !errors.As(err, &oe) || oe.Type != "AccessDeniedException" {
		t.Fatalf("SnapshotSave by an identity without kmsnode:SnapshotSave: %v", err)
	}

	// Save through a follower while another follower takes writes.
	fol := a.Followers()
	var (
		mu     sync.Mutex
		acked  []string
		stop   = make(chan struct{})
		loadWG sync.WaitGroup
	)
	loadWG.Add(1)
	go func() {
		defer loadWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			out, err := fol[1].Client.CreateKey(context.Background(), &awskms.CreateKeyInput{Description: aws.String(fmt.Sprintf("load-%d", i))})
			if err != nil {
				t.Errorf("CreateKey under load: %v", err)
				return
			}
			mu.Lock()
			acked = append(acked, *out.KeyMetadata.KeyId)
			mu.Unlock()
		}
	}()
	testnode.Eventually(t, 30*time.Second, "writes under way", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 3
	})
	mu.Lock()
	ackedBefore := append([]string(nil), acked...)
	mu.Unlock()
	dir := t.TempDir()
	file := filepath.Join(dir, "a.snap")
	var saved snapshotInfo
	if err := json.Unmarshal([]byte(cli(t, "snapshot", "save", file, "--endpoint", fol[0].URL(), "--json")), &saved); err != nil {
		t.Fatal(err)
	}
	close(stop)
	loadWG.Wait()
	h := saved.Header
	if !saved.Valid || h.Region != region || h.NodeID != fol[0].ID || h.Summary.Keys < 2+len(ackedBefore) ||
		h.Summary.Identities != 1 || h.Summary.Aliases != 1 || h.Summary.SealProviders[0] != "file" {
		t.Fatalf("saved %+v", saved)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != saved.Bytes || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".a.snap*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	out := cli(t, "snapshot", "inspect", file)
	for _, want := range []string{"region      " + region, "by node " + fol[0].ID, "check       ok", "unseal provider file"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}
	// What B must show after the restore, read from A now that the load
	// stopped; the keys created after the snapshot are the only difference.
	want := readState(t, c, grantedID)

	// A snapshot of another region, for the refusal below.
	other := testnode.Start(t, func(c *node.Config) { c.Region = "eu-other-1" })
	otherFile := filepath.Join(dir, "other.snap")
	cli(t, "snapshot", "save", otherFile, "--endpoint", other.URL(), "--region", "eu-other-1")
	_ = other.Close()
	a.Close() // region A is gone

	// Region B: new, same region name and unseal key.
	b := testcluster.Start(t, 3, func(c *node.Config) { c.Seal.KeyFile = a.Nodes[0].Config.Seal.KeyFile })
	lb := b.Leader()
	digestB := lb.FSM().Digest()
	unchanged := func(what string) {
		t.Helper()
		if d := lb.FSM().Digest(); d != digestB || lb.FSM().KeyCount() != 0 {
			t.Fatalf("%s changed region B's state", what)
		}
	}

	// A damaged file: kmsctl refuses it before sending; a node sent it
	// anyway refuses it too.
	good, err := os.ReadFile(file)
	testnode.MustOK(t, "read snapshot", err)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0x20
	badFile := filepath.Join(dir, "bad.snap")
	testnode.MustOK(t, "write", os.WriteFile(badFile, bad, 0o600))
	if out := cliFails(t, "snapshot", "inspect", badFile); !strings.Contains(out, "FAILED") {
		t.Errorf("inspect of a damaged file:\n%s", out)
	}
	if out := cliFails(t, "snapshot", "restore", badFile, "--endpoint", lb.URL()); !strings.Contains(out, "nothing was sent") {
		t.Errorf("restore of a damaged file:\n%s", out)
	}
	devCreds := aws.Credentials{AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey}
	sendAs := func(creds aws.Credentials, body []byte, declared []byte) error {
		sum := sha256.Sum256(declared)
		cl := opclient.New(lb.URL(), region, creds)
		resp, err := cl.Stream(ctx, "SnapshotRestore", url.Values{}, bytes.NewReader(body), int64(len(body)), hex.EncodeToString(sum[:]))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	sendRaw := func(body []byte, declared []byte) error { return sendAs(devCreds, body, declared) }
	wantAPIErr := func(err error, typ, msg string) {
		t.Helper()
		var ae *opclient.APIError
		if !errors.As(err, &ae) || ae.Type != typ || !strings.Contains(ae.Message, msg) {
			t.Fatalf("got %v, want %s containing %q", err, typ, msg)
		}
	}
	wantAPIErr(sendRaw(bad, bad), "ValidationException", "damaged")
	unchanged("a damaged snapshot")
	// The good archive with the digest of another body declared and signed.
	wantAPIErr(sendRaw(good, bad), "InvalidSignatureException", "X-Amz-Content-Sha256")
	unchanged("a body that is not the signed one")

	// Another region's snapshot: refused by kmsctl and by the node.
	if out := cliFails(t, "snapshot", "restore", otherFile, "--endpoint", lb.URL()); !strings.Contains(out, "region eu-other-1") {
		t.Errorf("restore of another region's snapshot:\n%s", out)
	}
	otherBytes, err := os.ReadFile(otherFile)
	testnode.MustOK(t, "read", err)
	wantAPIErr(sendRaw(otherBytes, otherBytes), "KMSInvalidStateException", "region eu-other-1")
	unchanged("another region's snapshot")

	// Through a follower: kmsctl names the leader (test nodes advertise no
	// usable API address) and sends nothing.
	fb := b.Followers()
	if out := cliFails(t, "snapshot", "restore", file, "--endpoint", fb[0].URL()); !strings.Contains(out, "not the leader") || !strings.Contains(out, lb.ID) {
		t.Errorf("restore through a follower:\n%s", out)
	}
	unchanged("a restore sent to a follower")

	// The restore.
	var res struct {
		Result   restoreResult `json:"result"`
		Verified bool          `json:"state_digest_matches"`
	}
	if err := json.Unmarshal([]byte(cli(t, "snapshot", "restore", file, "--endpoint", lb.URL(), "--json")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Result.Sealed || res.Result.Summary.Keys != h.Summary.Keys {
		t.Fatalf("restore answered %+v", res)
	}

	check := func(n *testcluster.Node) {
		t.Helper()
		// Followers install the snapshot and reopen the seal on their own.
		var d *awskms.DecryptOutput
		testnode.Eventually(t, 30*time.Second, "node "+n.ID+" decrypts region A's ciphertext", func() bool {
			d, err = n.Client.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: e1.CiphertextBlob, EncryptionContext: encCtx})
			return err == nil
		})
		if string(d.Plaintext) != "made in region A" || aws.ToString(d.KeyId) != aws.ToString(k1.KeyMetadata.Arn) {
			t.Fatalf("node %s decrypted %q with %s", n.ID, d.Plaintext, aws.ToString(d.KeyId))
		}
		appB := testnode.NewClient(n.URL(), region, app.AccessKey.AccessKeyId, app.AccessKey.SecretAccessKey)
		d2, err := appB.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: e2.CiphertextBlob, KeyId: &grantedID})
		if err != nil || string(d2.Plaintext) != "through the grant" {
			t.Fatalf("node %s: the identity's grant: %v", n.ID, err)
		}
		_, err = appB.DescribeKey(ctx, &awskms.DescribeKeyInput{KeyId: &grantedID})
		testnode.WantErr(t, err, "AccessDeniedException") // the key policy came back too
		got := readState(t, n.Client, grantedID)
		if !reflect.DeepEqual(got.Aliases, want.Aliases) || got.Policy != want.Policy {
			t.Fatalf("node %s: aliases %v, policy %s; want %v, %s", n.ID, got.Aliases, got.Policy, want.Aliases, want.Policy)
		}
		if len(got.Keys) != h.Summary.Keys {
			t.Fatalf("node %s has %d keys, the snapshot %d", n.ID, len(got.Keys), h.Summary.Keys)
		}
		for id, desc := range got.Keys {
			if want.Keys[id] != desc {
				t.Fatalf("node %s: key %s %q, region A had %q", n.ID, id, desc, want.Keys[id])
			}
		}
		for _, id := range append(ackedBefore, keyID, grantedID) {
			if _, ok := got.Keys[id]; !ok {
				t.Fatalf("node %s lacks key %s, acknowledged before the save", n.ID, id)
			}
		}
	}
	for _, n := range b.Nodes {
		check(n)
	}
	gr, err := lb.Client.ListGrants(ctx, &awskms.ListGrantsInput{KeyId: &grantedID})
	testnode.MustOK(t, "ListGrants", err)
	if len(gr.Grants) != 1 || aws.ToString(gr.Grants[0].GranteePrincipal) != app.Identity.Arn {
		t.Fatalf("grants after the restore: %+v", gr.Grants)
	}

	// Restoring needs kmsnode:SnapshotRestore, checked before the body is read.
	appCreds := aws.Credentials{AccessKeyID: app.AccessKey.AccessKeyId, SecretAccessKey: app.AccessKey.SecretAccessKey}
	wantAPIErr(sendAs(appCreds, good, good), "AccessDeniedException", "kmsnode:SnapshotRestore")

	// A second restore needs --force: the region is no longer new.
	if out := cliFails(t, "snapshot", "restore", file, "--endpoint", lb.URL()); !strings.Contains(out, "not new") {
		t.Errorf("second restore:\n%s", out)
	}

	t.Run("status", func(t *testing.T) { checkStatus(t, b, h.Summary.Keys) })

	// A restarted node opens its audit key (re-sealed under the restored
	// keyring) and the restored seal from its data directory.
	fb = b.Followers()
	fb[0].Stop()
	fb[0].Restart()
	check(fb[0])
}

// checkStatus runs kmsctl status against a follower of a 3-node region.
func checkStatus(t *testing.T, r *testcluster.Region, keys int) {
	leader := r.Leader()
	fol := r.Followers()[0]
	var st nodeStatus
	testnode.Eventually(t, 30*time.Second, "status of a ready follower", func() bool {
		code, out, _ := runCLI("status", "--endpoint", fol.URL(), "--json")
		st = nodeStatus{}
		return code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Status != nil
	})
	s := st.Status
	voters := 0
	for _, m := range s.Members {
		if m.Suffrage == "voter" {
			voters++
		}
	}
	if !st.Alive || !st.Ready || s.Region != r.Name || s.NodeId != fol.ID || s.State != "Follower" ||
		s.LeaderId != leader.ID || voters != 3 || s.Raft.Term == 0 || s.Raft.CommitIndex == 0 ||
		s.Raft.AppliedIndex > s.Raft.LastLogIndex || s.Raft.FSMAppliedIndex == 0 || !s.Lease.Held ||
		s.Lease.DurationMs != 1000 || s.Lease.AgeMs > s.Lease.DurationMs || s.Seal.Sealed || s.Seal.Provider != "file" ||
		s.Keys != keys || s.Identities != 1 || s.Version == "" || s.AccountId != node.DevAccountID {
		t.Fatalf("status: %+v", st)
	}
	out := cli(t, "status", "--endpoint", fol.URL())
	for _, want := range []string{"region    " + r.Name, "node      " + fol.ID + " (follower)", "leader    " + leader.ID,
		"lease     held", "seal      unsealed, provider file", fmt.Sprintf("keys      %d", keys), "members", "NODE"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	// --health keeps to the probes; --all reaches the members through
	// the API address they advertise, which test nodes do not (port 0).
	if out := cli(t, "status", "--endpoint", fol.URL(), "--health"); strings.Contains(out, "region") {
		t.Errorf("status --health:\n%s", out)
	}
	if out := cliFails(t, "status", "--endpoint", fol.URL(), "--all"); !strings.Contains(out, "did not answer") || !strings.Contains(out, fol.ID) {
		t.Errorf("status --all:\n%s", out)
	}
}
