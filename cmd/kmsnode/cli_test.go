package main

// The README's aws CLI walk-through, run with the real `aws` CLI against a
// real `kmsnode dev` process, using only what the banner printed.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// awsCLI runs the aws CLI isolated from the machine's configuration.
type awsCLI struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
	dir      string // working directory, for fileb:// files
	calls    int
}

func newAWSCLI(t *testing.T, d *devNode) *awsCLI {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Log("**************************************************************")
		t.Log("* the aws CLI is not on PATH: the README walk-through is NOT *")
		t.Log("* tested. Install it (pip install awscli) to run this test.  *")
		t.Log("**************************************************************")
		t.Skip("SKIPPED: aws CLI not found on PATH; the aws CLI walk-through is untested")
	}
	bin = resolveShim(bin)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty-aws-config")
	mustOK(t, "write", os.WriteFile(empty, nil, 0o600))
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	for k, v := range d.Vars { // exactly what the banner says to export
		env = append(env, k+"="+v)
	}
	env = append(env,
		"AWS_CONFIG_FILE="+empty, "AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_RETRY_MODE=standard", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	return &awsCLI{t: t, bin: bin, endpoint: d.Endpoint, env: env, dir: dir}
}

// resolveShim replaces a pyenv shim by the script it runs: the shim costs
// about 0.4 s per call, which adds up over a walk-through.
func resolveShim(bin string) string {
	if !strings.Contains(bin, "/shims/") {
		return bin
	}
	out, err := exec.Command("pyenv", "which", "aws").Output()
	if err != nil {
		return bin
	}
	if real := strings.TrimSpace(string(out)); real != "" {
		if _, err := os.Stat(real); err == nil {
			return real
		}
	}
	return bin
}

func (a *awsCLI) exec(args []string) (stdout, stderr []byte, err error) {
	a.calls++
	cmd := exec.Command(a.bin, args...)
	cmd.Env, cmd.Dir = a.env, a.dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// kms runs `aws --endpoint-url E --output json kms args…` and returns the
// parsed JSON output (nil for commands that print nothing).
func (a *awsCLI) kms(args ...string) map[string]any {
	a.t.Helper()
	full := append([]string{"--endpoint-url", a.endpoint, "--output", "json", "kms"}, args...)
	out, errOut, err := a.exec(full)
	if err != nil {
		a.t.Fatalf("aws %s: %v\n%s", strings.Join(full, " "), err, errOut)
	}
	return parseJSON(a.t, strings.Join(args, " "), out)
}

// kmsFails runs a command that must fail with the AWS error code.
func (a *awsCLI) kmsFails(code string, args ...string) {
	a.t.Helper()
	full := append([]string{"--endpoint-url", a.endpoint, "--output", "json", "kms"}, args...)
	_, errOut, err := a.exec(full)
	if err == nil {
		a.t.Fatalf("aws %s succeeded, want %s", strings.Join(args, " "), code)
	}
	if !strings.Contains(string(errOut), "("+code+")") {
		a.t.Fatalf("aws %s: want (%s), stderr:\n%s", strings.Join(args, " "), code, errOut)
	}
}

func parseJSON(t *testing.T, what string, out []byte) map[string]any {
	t.Helper()
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("aws %s: output is not JSON: %v\n%s", what, err, out)
	}
	return m
}

// writeFile writes a file for fileb:// / file:// in the CLI's directory.
func (a *awsCLI) writeFile(name string, b []byte) string {
	a.t.Helper()
	mustOK(a.t, "write "+name, os.WriteFile(filepath.Join(a.dir, name), b, 0o600))
	return name
}

// get walks a parsed JSON value by field names and indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			s, _ := v.([]any)
			if p >= len(s) {
				return nil
			}
			v = s[p]
		}
	}
	return v
}

func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

func b64(t *testing.T, v any, path ...any) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(str(v, path...))
	if err != nil {
		t.Fatalf("field %v is not base64: %v (%v)", path, err, get(v, path...))
	}
	return b
}

func TestAWSCLIWalkthrough(t *testing.T) {
	t.Parallel()
	d := startDev(t, "--data-dir", t.TempDir(), "--api-addr", "127.0.0.1:"+freePort(t))
	a := newAWSCLI(t, d)
	arn := "arn:aws:kms:" + d.Region + ":" + d.Account + ":"
	check := func(cond bool, format string, args ...any) {
		t.Helper()
		if !cond {
			t.Fatalf(format, args...)
		}
	}

	// The line the banner tells the user to paste, exactly as printed.
	words := strings.Fields(d.Paste)
	if words[0] != "aws" {
		t.Fatalf("the paste line %q does not start with aws", d.Paste)
	}
	out, errOut, err := a.exec(words[1:])
	if err != nil {
		t.Fatalf("the pasted line %q failed: %v\n%s", d.Paste, err, errOut)
	}
	demo := parseJSON(t, d.Paste, out)
	check(str(demo, "KeyMetadata", "Description") == "demo", "pasted create-key: %v", demo)

	// create-key, describe-key, list-keys
	m := a.kms("create-key", "--description", "orders", "--tags", "TagKey=team,TagValue=shop")
	key := str(m, "KeyMetadata", "KeyId")
	check(str(m, "KeyMetadata", "Arn") == arn+"key/"+key, "create-key: %v", m)
	key2 := str(a.kms("create-key", "--description", "archive"), "KeyMetadata", "KeyId")
	m = a.kms("describe-key", "--key-id", key)
	md := get(m, "KeyMetadata")
	for field, want := range map[string]string{
		"KeyId": key, "Arn": arn + "key/" + key, "AWSAccountId": d.Account, "Description": "orders",
		"KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
		"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS", "KeyManager": "CUSTOMER",
	} {
		check(str(md, field) == want, "describe-key %s = %v, want %s", field, get(md, field), want)
	}
	check(get(md, "Enabled") == true && get(md, "MultiRegion") == false && str(md, "EncryptionAlgorithms", 0) == "SYMMETRIC_DEFAULT" &&
		get(md, "CreationDate") != nil, "describe-key: %v", md)
	m = a.kms("list-keys")
	listed := map[string]bool{}
	for i := 0; get(m, "Keys", i) != nil; i++ {
		listed[str(m, "Keys", i, "KeyId")] = str(m, "Keys", i, "KeyArn") == arn+"key/"+str(m, "Keys", i, "KeyId")
	}
	check(len(listed) == 3 && listed[key] && listed[key2] && listed[str(demo, "KeyMetadata", "KeyId")], "list-keys: %v", m)

	// create-alias, list-aliases
	a.kms("create-alias", "--alias-name", "alias/orders", "--target-key-id", key)
	m = a.kms("list-aliases", "--key-id", key)
	check(str(m, "Aliases", 0, "AliasName") == "alias/orders" && str(m, "Aliases", 0, "AliasArn") == arn+"alias/orders" &&
		str(m, "Aliases", 0, "TargetKeyId") == key && get(m, "Aliases", 1) == nil, "list-aliases: %v", m)

	// encrypt / decrypt with fileb:// and an encryption context
	secret := []byte("card 4111-1111")
	a.writeFile("secret.txt", secret)
	m = a.kms("encrypt", "--key-id", "alias/orders", "--plaintext", "fileb://secret.txt", "--encryption-context", "app=shop")
	check(str(m, "KeyId") == arn+"key/"+key && str(m, "EncryptionAlgorithm") == "SYMMETRIC_DEFAULT", "encrypt: %v", m)
	a.writeFile("secret.enc", b64(t, m, "CiphertextBlob"))
	m = a.kms("decrypt", "--ciphertext-blob", "fileb://secret.enc", "--encryption-context", "app=shop")
	check(bytes.Equal(b64(t, m, "Plaintext"), secret) && str(m, "KeyId") == arn+"key/"+key, "decrypt: %v", m)
	a.kmsFails("InvalidCiphertextException", "decrypt", "--ciphertext-blob", "fileb://secret.enc", "--encryption-context", "app=other")

	// Envelope encryption
	m = a.kms("generate-data-key", "--key-id", "alias/orders", "--key-spec", "AES_256")
	dataKey := b64(t, m, "Plaintext")
	check(len(dataKey) == 32 && str(m, "KeyId") == arn+"key/"+key, "generate-data-key: %v", m)
	a.writeFile("dk.enc", b64(t, m, "CiphertextBlob"))
	m = a.kms("decrypt", "--ciphertext-blob", "fileb://dk.enc")
	check(bytes.Equal(b64(t, m, "Plaintext"), dataKey), "decrypt data key: %v", m)
	m = a.kms("generate-data-key-without-plaintext", "--key-id", key, "--number-of-bytes", "64")
	check(get(m, "Plaintext") == nil && len(b64(t, m, "CiphertextBlob")) == 64+67 && str(m, "KeyId") == arn+"key/"+key,
		"generate-data-key-without-plaintext: %v", m)

	// re-encrypt to the second key and a new context; plaintext never shown
	m = a.kms("re-encrypt", "--ciphertext-blob", "fileb://secret.enc", "--source-encryption-context", "app=shop",
		"--destination-key-id", key2, "--destination-encryption-context", "app=archive")
	check(get(m, "Plaintext") == nil && str(m, "SourceKeyId") == arn+"key/"+key && str(m, "KeyId") == arn+"key/"+key2, "re-encrypt: %v", m)
	a.writeFile("secret.re", b64(t, m, "CiphertextBlob"))
	m = a.kms("decrypt", "--ciphertext-blob", "fileb://secret.re", "--encryption-context", "app=archive")
	check(bytes.Equal(b64(t, m, "Plaintext"), secret) && str(m, "KeyId") == arn+"key/"+key2, "decrypt re-encrypted: %v", m)

	m = a.kms("generate-random", "--number-of-bytes", "32")
	check(len(b64(t, m, "Plaintext")) == 32, "generate-random: %v", m)

	// update-alias
	a.kms("update-alias", "--alias-name", "alias/orders", "--target-key-id", key2)
	m = a.kms("list-aliases")
	found := false
	for i := 0; get(m, "Aliases", i) != nil; i++ {
		if str(m, "Aliases", i, "AliasName") == "alias/orders" {
			found = str(m, "Aliases", i, "TargetKeyId") == key2
		}
	}
	check(found, "update-alias did not move alias/orders to %s: %v", key2, m)

	// tags
	a.kms("tag-resource", "--key-id", key, "--tags", "TagKey=env,TagValue=dev", "TagKey=owner,TagValue=ops")
	a.kms("untag-resource", "--key-id", key, "--tag-keys", "owner")
	m = a.kms("list-resource-tags", "--key-id", key)
	check(jsonString(get(m, "Tags")) == `[{"TagKey":"env","TagValue":"dev"},{"TagKey":"team","TagValue":"shop"}]`,
		"list-resource-tags: %v", m)

	// rotation
	a.kms("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "90")
	m = a.kms("rotate-key-on-demand", "--key-id", key)
	check(str(m, "KeyId") == arn+"key/"+key, "rotate-key-on-demand: %v", m)
	m = a.kms("get-key-rotation-status", "--key-id", key)
	check(get(m, "KeyRotationEnabled") == true && get(m, "RotationPeriodInDays") == 90.0 && get(m, "NextRotationDate") != nil &&
		get(m, "OnDemandRotationStartDate") != nil, "get-key-rotation-status: %v", m)
	m = a.kms("list-key-rotations", "--key-id", key)
	check(str(m, "Rotations", 0, "RotationType") == "ON_DEMAND" && str(m, "Rotations", 0, "KeyId") == arn+"key/"+key &&
		get(m, "Rotations", 1) == nil, "list-key-rotations: %v", m)
	// the ciphertext made before the rotation still decrypts (README)
	m = a.kms("decrypt", "--ciphertext-blob", "fileb://secret.enc", "--encryption-context", "app=shop")
	check(bytes.Equal(b64(t, m, "Plaintext"), secret), "decrypt after rotation: %v", m)

	// policies and grants
	m = a.kms("list-key-policies", "--key-id", key)
	check(jsonString(get(m, "PolicyNames")) == `["default"]`, "list-key-policies: %v", m)
	m = a.kms("get-key-policy", "--key-id", key, "--policy-name", "default")
	check(strings.Contains(str(m, "Policy"), "arn:aws:iam::"+d.Account+":root"), "get-key-policy: %v", m)
	policy := `{"Version":"2012-10-17","Id":"cli-test","Statement":[{"Sid":"Root","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::` + d.Account + `:root"},"Action":"kms:*","Resource":"*"}]}`
	a.writeFile("policy.json", []byte(policy))
	a.kms("put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", "file://policy.json")
	m = a.kms("get-key-policy", "--key-id", key, "--policy-name", "default")
	check(sameJSON(str(m, "Policy"), policy), "get-key-policy after put-key-policy: %v", m)
	m = a.kms("list-grants", "--key-id", key)
	check(jsonString(get(m, "Grants")) == `[]`, "list-grants: %v", m)

	// lifecycle
	a.kms("update-key-description", "--key-id", key, "--description", "orders v2")
	a.kms("disable-key", "--key-id", key)
	a.kmsFails("DisabledException", "encrypt", "--key-id", key, "--plaintext", "fileb://secret.txt")
	a.kms("enable-key", "--key-id", key)
	m = a.kms("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
	check(str(m, "KeyState") == "PendingDeletion" && get(m, "PendingWindowInDays") == 7.0 && get(m, "DeletionDate") != nil &&
		str(m, "KeyId") == arn+"key/"+key, "schedule-key-deletion: %v", m)
	m = a.kms("cancel-key-deletion", "--key-id", key)
	check(str(m, "KeyId") == arn+"key/"+key, "cancel-key-deletion: %v", m)
	m = a.kms("describe-key", "--key-id", key)
	check(str(m, "KeyMetadata", "KeyState") == "Disabled" && str(m, "KeyMetadata", "Description") == "orders v2" &&
		get(m, "KeyMetadata", "DeletionDate") == nil, "describe-key after cancel-key-deletion: %v", m)

	a.kms("delete-alias", "--alias-name", "alias/orders")
	m = a.kms("list-aliases")
	check(!strings.Contains(jsonString(m), "alias/orders"), "list-aliases after delete-alias: %v", m)
	t.Logf("%d aws CLI calls", a.calls)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return jsonString(x) == jsonString(y)
}
