package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

// TestIdentityCommands drives `kmsctl identity` against a real node: create
// with a policy, use the printed credentials, list, get, a second key,
// policies, tags, deletion, and refusals.
func TestIdentityCommands(t *testing.T) {
	n := testnode.Start(t)
	devEnv(t, n.Config.Region)
	t.Setenv("KMSNODE_ENDPOINT", n.URL())
	ok := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(args...)
		if code != 0 {
			t.Fatalf("kmsctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.json")
	os.WriteFile(pol, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"}]}`), 0o600)

	out := ok("identity", "create", "app", "--policy-file", pol, "--tag", "team=blue")
	akid := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`AWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(out)
	if akid == nil || secret == nil || !strings.Contains(out, "arn:aws:iam::111122223333:user/app") {
		t.Fatalf("create printed:\n%s", out)
	}
	keyID := *testnodeKey(t, n)
	app := testnode.NewClient(n.URL(), n.Config.Region, akid[1], secret[1])
	if _, err := app.Encrypt(testnode.Ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("the new identity cannot use its policy: %v", err)
	}
	_, err := app.ScheduleKeyDeletion(testnode.Ctx(t), &awskms.ScheduleKeyDeletionInput{KeyId: &keyID})
	testnode.WantErr(t, err, "AccessDeniedException")

	var list struct{ Identities []identityInfo }
	if err := json.Unmarshal([]byte(ok("identity", "list", "--json")), &list); err != nil || len(list.Identities) != 1 || list.Identities[0].Arn != "arn:aws:iam::111122223333:user/app" {
		t.Fatalf("list: %+v %v", list, err)
	}
	got := ok("identity", "get", "app")
	for _, want := range []string{"user/app", akid[1], "policy    inline", "tag       team=blue"} {
		if !strings.Contains(got, want) {
			t.Errorf("get lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, secret[1]) {
		t.Fatal("get shows the secret")
	}
	out2 := ok("identity", "add-key", "app")
	akid2 := regexp.MustCompile(`AWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(out2)
	if akid2 == nil {
		t.Fatalf("add-key printed:\n%s", out2)
	}
	if code, _, errOut := runCLI("identity", "add-key", "app"); code != 1 || !strings.Contains(errOut, "LimitExceeded") {
		t.Errorf("a third key: exit %d, %s", code, errOut)
	}
	ok("identity", "remove-key", akid[1])
	if _, err := app.Encrypt(testnode.Ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")}); err == nil {
		t.Fatal("a removed access key still signs")
	}
	ok("identity", "put-policy", "app", "more", "--policy-file", pol)
	if !strings.Contains(ok("identity", "get-policy", "app", "more"), "kms:Encrypt") {
		t.Fatal("get-policy does not return the document")
	}
	ok("identity", "delete-policy", "app", "more")
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`), 0o600)
	if code, _, errOut := runCLI("identity", "put-policy", "app", "bad", "--policy-file", bad); code != 1 || !strings.Contains(errOut, "MalformedPolicyDocument") {
		t.Errorf("an identity policy with a Principal: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runCLI("identity", "delete", "root"); code != 1 || !strings.Contains(errOut, "Validation") {
		t.Errorf("deleting root: exit %d, %s", code, errOut)
	}
	ok("identity", "delete", "app")
	if code, _, _ := runCLI("identity", "get", "app"); code != 1 {
		t.Error("a deleted identity is still there")
	}
	// The identity operations are refused to an identity without kmsnode:*.
	t.Setenv("AWS_ACCESS_KEY_ID", akid2[1])
	if code, _, errOut := runCLI("identity", "list"); code != 1 || !strings.Contains(errOut, "UnrecognizedClient") {
		t.Errorf("a deleted identity's second key: exit %d, %s", code, errOut)
	}
	if code, _, _ := runCLI("identity", "bogus"); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
}

func testnodeKey(t *testing.T, n *testnode.Node) *string {
	out, err := n.Client.CreateKey(testnode.Ctx(t), &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return out.KeyMetadata.KeyId
}
