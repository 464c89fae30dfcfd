package main

// The real `kmsnode dev` process: its banner, durability across SIGKILL,
// a clean exit on SIGTERM, the loopback-only rule, and region/account
// flags in every ARN.

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// ciphertext is one the test expects to decrypt after restarts.
type ciphertext struct {
	keyID string
	blob  []byte
	pt    []byte
	ec    map[string]string
}

func encryptUnder(t *testing.T, c *awskms.Client, ref, keyID, pt string, ec map[string]string) ciphertext {
	t.Helper()
	out, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &ref, Plaintext: []byte(pt), EncryptionContext: ec})
	mustOK(t, "Encrypt "+pt, err)
	return ciphertext{keyID: keyID, blob: out.CiphertextBlob, pt: []byte(pt), ec: ec}
}

func decryptOK(t *testing.T, c *awskms.Client, ct ciphertext) {
	t.Helper()
	out, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: ct.blob, EncryptionContext: ct.ec})
	if err != nil {
		t.Fatalf("Decrypt %q: %v", ct.pt, err)
	}
	if !bytes.Equal(out.Plaintext, ct.pt) || !strings.HasSuffix(aws.ToString(out.KeyId), "key/"+ct.keyID) {
		t.Fatalf("Decrypt %q: got %q under %s", ct.pt, out.Plaintext, aws.ToString(out.KeyId))
	}
}

func createKey(t *testing.T, c *awskms.Client, in *awskms.CreateKeyInput) string {
	t.Helper()
	out, err := c.CreateKey(ctx(t), in)
	mustOK(t, "CreateKey", err)
	return aws.ToString(out.KeyMetadata.KeyId)
}

// checkBanner checks what `kmsnode dev` prints for the given settings.
func checkBanner(t *testing.T, d *devNode, endpoint, region, account, dataDir string, newKey bool) {
	t.Helper()
	abs, err := filepath.Abs(dataDir)
	mustOK(t, "abs", err)
	keyFile := filepath.Join(abs, "unseal.key")
	lines := strings.Split(d.Banner, "\n")
	if newKey {
		if !strings.HasPrefix(lines[0], "WARNING: development mode. A new unseal key was written to "+keyFile+".") ||
			!strings.Contains(d.Banner, "never do this in production") {
			t.Errorf("first start: no warning about the new unseal key in %s:\n%s", keyFile, d.Banner)
		}
	} else if !strings.HasPrefix(lines[0], "WARNING: development mode: the unseal key is in "+keyFile+", next to the data.") {
		t.Errorf("restart: no warning about the unseal key in %s:\n%s", keyFile, d.Banner)
	}
	if endpoint != "" && d.Endpoint != endpoint {
		t.Errorf("endpoint %q, want %q", d.Endpoint, endpoint)
	}
	want := map[string]string{
		"region": region, "account": account, "data": abs,
		"AWS_ACCESS_KEY_ID": node.DevAccessKeyID, "AWS_SECRET_ACCESS_KEY": node.DevSecretAccessKey, "AWS_DEFAULT_REGION": region,
	}
	got := map[string]string{"region": d.Region, "account": d.Account, "data": d.Data}
	for k, v := range d.Vars {
		got[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("banner %s = %q, want %q", k, got[k], v)
		}
	}
	if wantPaste := "aws --endpoint-url " + d.Endpoint + " kms create-key --description demo"; d.Paste != wantPaste {
		t.Errorf("paste line %q, want %q", d.Paste, wantPaste)
	}
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o400 {
		t.Fatalf("unseal key file: %v (mode %v, want 0400)", err, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(keyFile)
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || len(k) != 32 {
		t.Fatalf("unseal.key is not a base64 32-byte key: %v", err)
	}
}

func TestDevSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data") // created by kmsnode
	port := freePort(t)
	args := []string{"--data-dir", dir, "--api-addr", "127.0.0.1:" + port}
	d := startDev(t, args...)
	checkBanner(t, d, "http://127.0.0.1:"+port, "us-east-1", node.DevAccountID, dir, true)
	c := d.Client

	ec := map[string]string{"app": "kill-test"}
	var cts []ciphertext
	plain := createKey(t, c, &awskms.CreateKeyInput{Description: aws.String("kill: plain"),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("kms")}}})
	_, err := c.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/kill/plain"), TargetKeyId: &plain})
	mustOK(t, "CreateAlias", err)
	cts = append(cts, encryptUnder(t, c, "alias/kill/plain", plain, "plain", ec))

	rot := createKey(t, c, &awskms.CreateKeyInput{Description: aws.String("kill: rotating")})
	_, err = c.EnableKeyRotation(ctx(t), &awskms.EnableKeyRotationInput{KeyId: &rot, RotationPeriodInDays: i32(90)})
	mustOK(t, "EnableKeyRotation", err)
	cts = append(cts, encryptUnder(t, c, rot, rot, "rot v1", nil))
	for _, v := range []string{"rot v2", "rot v3"} {
		_, err = c.RotateKeyOnDemand(ctx(t), &awskms.RotateKeyOnDemandInput{KeyId: &rot})
		mustOK(t, "RotateKeyOnDemand", err)
		cts = append(cts, encryptUnder(t, c, rot, rot, v, ec))
	}
	dk, err := c.GenerateDataKey(ctx(t), &awskms.GenerateDataKeyInput{KeyId: &rot, NumberOfBytes: i32(32)})
	mustOK(t, "GenerateDataKey", err)
	cts = append(cts, ciphertext{keyID: rot, blob: dk.CiphertextBlob, pt: dk.Plaintext})

	dis := createKey(t, c, &awskms.CreateKeyInput{Description: aws.String("kill: disabled")})
	cts = append(cts, encryptUnder(t, c, dis, dis, "dis", nil))
	_, err = c.DisableKey(ctx(t), &awskms.DisableKeyInput{KeyId: &dis})
	mustOK(t, "DisableKey", err)

	doomed := createKey(t, c, &awskms.CreateKeyInput{Description: aws.String("kill: doomed")})
	_, err = c.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/kill/doomed"), TargetKeyId: &doomed})
	mustOK(t, "CreateAlias", err)
	cts = append(cts, encryptUnder(t, c, doomed, doomed, "doomed", ec))
	_, err = c.ScheduleKeyDeletion(ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &doomed, PendingWindowInDays: i32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	// The last acknowledged write, just before the kill.
	_, err = c.TagResource(ctx(t), &awskms.TagResourceInput{KeyId: &plain, Tags: []types.Tag{{TagKey: aws.String("last"), TagValue: aws.String("write")}}})
	mustOK(t, "TagResource", err)
	before := view(t, c)

	if ws := d.signal(syscall.SIGKILL); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("kmsnode did not die of SIGKILL: %v", ws)
	}

	d2 := startDev(t, args...)
	checkBanner(t, d2, "http://127.0.0.1:"+port, "us-east-1", node.DevAccountID, dir, false)
	c = d2.Client
	if after := view(t, c); after != before {
		t.Fatalf("state changed across SIGKILL\nbefore:\n%s\nafter:\n%s", before, after)
	}
	for _, ct := range cts {
		_, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: ct.blob, EncryptionContext: ct.ec})
		switch ct.keyID {
		case dis:
			wantErr(t, err, "DisabledException")
			_, err = c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &dis})
			mustOK(t, "EnableKey", err)
		case doomed:
			wantErr(t, err, "KMSInvalidStateException")
			_, err = c.CancelKeyDeletion(ctx(t), &awskms.CancelKeyDeletionInput{KeyId: &doomed})
			mustOK(t, "CancelKeyDeletion", err)
			_, err = c.EnableKey(ctx(t), &awskms.EnableKeyInput{KeyId: &doomed})
			mustOK(t, "EnableKey", err)
		}
		decryptOK(t, c, ct)
	}

	t.Run("SecondProcessOnSameDataDir", func(t *testing.T) {
		// A second node on a data directory in use must refuse cleanly.
		p := runKmsnode(t, "dev", "--data-dir", dir, "--api-addr", "127.0.0.1:0")
		ws := p.wait(30 * time.Second)
		stderr := p.stderr.String()
		if strings.Contains(stderr, "panic:") {
			msg := "a second `kmsnode dev` on a data directory in use panics (node.Start's deferred n.Close() " +
				"on a nil *Node, node/node.go:64-68, after cluster.Open fails on the locked raft.db) instead of " +
				"exiting 1 with an error:\n" + firstLines(stderr, 3)
			t.Fatal(msg)
		}
		if ws.ExitStatus() != 1 || !strings.Contains(stderr, "kmsnode:") {
			t.Fatalf("second process: %v, stderr:\n%s", ws, stderr)
		}
	})
	// The first one is unharmed.
	decryptOK(t, c, cts[0])

	if ws := d2.signal(syscall.SIGTERM); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("SIGTERM: %v, want a clean exit 0\nstderr:\n%s", ws, d2.stderr.String())
	}
	if !strings.Contains(d2.stderr.String(), "kmsnode: shutting down") {
		t.Errorf("no shutdown message on SIGTERM:\n%s", d2.stderr.String())
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func TestDevRegionAndAccountInARNs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const region, account = "eu-west-3", "444455556666"
	prefix := "arn:aws:kms:" + region + ":" + account + ":"
	d := startDev(t, "--data-dir", dir, "--api-addr", "127.0.0.1:0", "--region", region, "--account-id", account)
	checkBanner(t, d, "", region, account, dir, true)
	if !strings.HasPrefix(d.Endpoint, "http://127.0.0.1:") || strings.HasSuffix(d.Endpoint, ":0") {
		t.Errorf("endpoint %q does not name the port actually chosen", d.Endpoint)
	}
	c := d.Client

	out, err := c.CreateKey(ctx(t), &awskms.CreateKeyInput{Description: aws.String("arn test")})
	mustOK(t, "CreateKey", err)
	id := aws.ToString(out.KeyMetadata.KeyId)
	arn := prefix + "key/" + id
	if aws.ToString(out.KeyMetadata.Arn) != arn || aws.ToString(out.KeyMetadata.AWSAccountId) != account {
		t.Errorf("CreateKey: Arn %s, account %s; want %s", aws.ToString(out.KeyMetadata.Arn), aws.ToString(out.KeyMetadata.AWSAccountId), arn)
	}
	_, err = c.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: aws.String("alias/arn-test"), TargetKeyId: &id})
	mustOK(t, "CreateAlias", err)
	as, err := c.ListAliases(ctx(t), &awskms.ListAliasesInput{KeyId: &id})
	mustOK(t, "ListAliases", err)
	if len(as.Aliases) != 1 || aws.ToString(as.Aliases[0].AliasArn) != prefix+"alias/arn-test" {
		t.Errorf("ListAliases: %s", jsonOf(as.Aliases))
	}
	ks, err := c.ListKeys(ctx(t), &awskms.ListKeysInput{})
	mustOK(t, "ListKeys", err)
	if len(ks.Keys) != 1 || aws.ToString(ks.Keys[0].KeyArn) != arn {
		t.Errorf("ListKeys: %s", jsonOf(ks.Keys))
	}
	enc, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: aws.String(prefix + "alias/arn-test"), Plaintext: []byte("x")})
	mustOK(t, "Encrypt by alias ARN", err)
	if aws.ToString(enc.KeyId) != arn {
		t.Errorf("Encrypt KeyId %s, want %s", aws.ToString(enc.KeyId), arn)
	}
	dec, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: &arn})
	mustOK(t, "Decrypt by key ARN", err)
	if aws.ToString(dec.KeyId) != arn {
		t.Errorf("Decrypt KeyId %s", aws.ToString(dec.KeyId))
	}
	pol, err := c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("default")})
	mustOK(t, "GetKeyPolicy", err)
	if !strings.Contains(aws.ToString(pol.Policy), "arn:aws:iam::"+account+":root") || strings.Contains(aws.ToString(pol.Policy), node.DevAccountID) {
		t.Errorf("default key policy is not the account's:\n%s", aws.ToString(pol.Policy))
	}
	// An ARN of the default region/account is another region's key here.
	_, err = c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:" + node.DevAccountID + ":key/" + id)})
	wantErr(t, err, "NotFoundException")
	// Requests signed for another region are refused.
	other := testnode.NewClient(d.Endpoint, "us-east-1", d.Vars["AWS_ACCESS_KEY_ID"], d.Vars["AWS_SECRET_ACCESS_KEY"])
	if _, err := other.ListKeys(ctx(t), &awskms.ListKeysInput{}); err == nil || strings.HasPrefix(errCode(err), "<") {
		t.Errorf("a request signed for us-east-1 got %v, want an AWS signature error", err)
	}

	if ws := d.signal(syscall.SIGTERM); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("SIGTERM: %v, want exit 0", ws)
	}
}

func TestDevRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	p := runKmsnode(t, "dev", "--api-addr", "0.0.0.0:0", "--data-dir", dir)
	ws := p.wait(30 * time.Second)
	if !ws.Exited() || ws.ExitStatus() != 1 {
		t.Fatalf("kmsnode dev --api-addr 0.0.0.0:0: %v, want exit 1", ws)
	}
	if !strings.Contains(p.stderr.String(), "0.0.0.0:0 is not a loopback address") {
		t.Errorf("stderr does not explain the refusal:\n%s", p.stderr.String())
	}
	if strings.Contains(p.stdout.String(), "kmsnode is running") {
		t.Error("it printed the running banner")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the refused start created the data directory (%v)", err)
	}

	// The rule itself, in-process.
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:0": true, "[::1]:0": true, "localhost:8080": true,
		"0.0.0.0:0": false, "[::]:0": false, ":8080": false, "192.0.2.1:80": false,
		"example.com:80": false, "127.0.0.1": false, "": false,
	} {
		if got := node.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"dev", "--api-addr", "[::]:8080", "--data-dir", dir}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "not a loopback address") {
		t.Errorf("run dev --api-addr [::]:8080 = %d, stderr %q", code, stderr.String())
	}
}
