package api_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// auditLines waits until the node's audit log holds a line containing
// each of want, then returns the log decoded, line by line.
func auditLines(t testing.TB, n *testnode.Node, want ...string) []map[string]any {
	t.Helper()
	path := filepath.Join(n.Config.DataDir, "audit.log")
	testnode.Eventually(t, 10*time.Second, "the audit log records the calls", func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	})
	b, _ := os.ReadFile(path)
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// byRequestID finds the record of one call.
func byRequestID(t testing.TB, lines []map[string]any, id string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["requestID"] == id {
			return l
		}
	}
	t.Fatalf("no audit record with requestID %s", id)
	return nil
}

func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

var eventIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestAuditRecordsEveryCall: allowed, refused, unsigned, forged and
// unknown-operation calls each get a CloudTrail-shaped record; no plaintext
// reaches the log; the log verifies under the key GetAuditPublicKey names.
func TestAuditRecordsEveryCall(t *testing.T) {
	t.Parallel()
	n := start(t)
	key := newKey(t, n, &awskms.CreateKeyInput{Description: aws.String("audited")})
	id := *key.KeyId
	secret := []byte("audit-plaintext-4f1c9e27b35a")
	enc := rawCall(t, n, "Encrypt", []byte(`{"KeyId":"`+id+`","Plaintext":"`+base64.StdEncoding.EncodeToString(secret)+
		`","EncryptionContext":{"app":"billing"}}`), rawOpts{})
	if enc.Status != 200 {
		t.Fatalf("Encrypt: %s", enc)
	}
	refused := rawCall(t, n, "Encrypt", []byte(`{"KeyId":"alias/none","Plaintext":"`+base64.StdEncoding.EncodeToString(secret)+`"}`), rawOpts{})
	unsigned := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{noSign: true})
	forged := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{akid: "AKIAFORGEDEXAMPLE01", secret: "wrong"})
	unknown := rawCall(t, n, "NoSuchOperation", []byte(`{}`), rawOpts{})
	badSig := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{akid: node.DevAccessKeyID, secret: "not-the-secret"})
	late := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{signAt: time.Now().Add(-20 * time.Minute)})
	nobody := testnode.CreateIdentity(t, n, "audited-nobody", "")
	denied := rawCall(t, n, "ListKeys", []byte(`{}`), rawOpts{akid: nobody.AccessKeyID, secret: nobody.Secret})
	other := "Foreign.Operation"
	foreign := rawCall(t, n, "", []byte(`{}`), rawOpts{target: &other})
	opTarget := "KmsNodeOperator.GetAuditPublicKey"
	pk := rawCall(t, n, "", []byte(`{}`), rawOpts{target: &opTarget})
	if pk.Status != 200 {
		t.Fatalf("GetAuditPublicKey: %s", pk)
	}
	var info struct {
		NodeId, Region, PublicKey, ChainHead string
		ChainSeq                             uint64
	}
	if err := json.Unmarshal(pk.Body, &info); err != nil {
		t.Fatal(err)
	}
	if info.PublicKey == "" || info.PublicKey != n.AuditPublicKey() || info.NodeId != n.Node.Config().NodeID || info.Region != testRegion ||
		info.ChainSeq < 1 || len(info.ChainHead) != 64 {
		t.Fatalf("GetAuditPublicKey = %+v (node prints %s)", info, n.AuditPublicKey())
	}

	reqID := func(r *rawResp) string { return r.Header.Get("x-amzn-RequestId") }
	lines := auditLines(t, n, reqID(enc), reqID(refused), reqID(unsigned), reqID(forged), reqID(unknown), reqID(foreign), reqID(pk),
		reqID(badSig), reqID(late), reqID(denied))

	e := byRequestID(t, lines, reqID(enc))
	for path, want := range map[string]any{
		"eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": "Encrypt", "awsRegion": testRegion,
		"eventType": "AwsApiCall", "readOnly": true, "managementEvent": true, "recipientAccountId": testAccount,
		"eventCategory": "Management", "userIdentity.type": "IAMUser", "userIdentity.principalId": "kmsnode-dev",
		"userIdentity.arn": "arn:aws:iam::" + testAccount + ":user/kmsnode-dev", "userIdentity.accountId": testAccount,
		"userIdentity.accessKeyId": node.DevAccessKeyID, "requestParameters.keyId": id,
		"requestParameters.encryptionContext.app": "billing", "additionalEventData.node": n.Node.Config().NodeID,
		"additionalEventData.region": testRegion, "sourceIPAddress": "127.0.0.1", "responseElements": nil,
	} {
		if got := get(e, path); got != want {
			t.Errorf("Encrypt record %s = %v, want %v", path, got, want)
		}
	}
	if !eventIDRE.MatchString(get(e, "eventID").(string)) {
		t.Errorf("eventID %v", e["eventID"])
	}
	if ts, err := time.Parse(time.RFC3339, get(e, "eventTime").(string)); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("eventTime %v: %v", e["eventTime"], err)
	}
	if res, _ := e["resources"].([]any); len(res) != 1 || get(res[0].(map[string]any), "ARN") != keyARN(id) ||
		get(res[0].(map[string]any), "type") != "AWS::KMS::Key" {
		t.Errorf("resources %v", e["resources"])
	}
	if _, ok := get(e, "additionalEventData.durationMs").(float64); !ok {
		t.Errorf("durationMs %v", e["additionalEventData"])
	}

	for _, c := range []struct {
		r                   *rawResp
		event, code, idType string
		akid                string
	}{
		{refused, "Encrypt", "NotFoundException", "IAMUser", node.DevAccessKeyID},
		{unsigned, "ListKeys", "MissingAuthenticationTokenException", "Unknown", ""},
		{forged, "ListKeys", "UnrecognizedClientException", "Unknown", "AKIAFORGEDEXAMPLE01"},
		{unknown, "NoSuchOperation", "UnknownOperationException", "IAMUser", node.DevAccessKeyID},
		{badSig, "ListKeys", "InvalidSignatureException", "Unknown", node.DevAccessKeyID},
		{late, "ListKeys", "InvalidSignatureException", "Unknown", node.DevAccessKeyID},
		{denied, "ListKeys", "AccessDeniedException", "IAMUser", nobody.AccessKeyID},
		{foreign, other, "UnknownOperationException", "", ""},
	} {
		r := byRequestID(t, lines, reqID(c.r))
		if r["eventName"] != c.event || r["errorCode"] != c.code || r["errorMessage"] == nil ||
			(c.idType != "" && get(r, "userIdentity.type") != c.idType) || (c.akid != "" && get(r, "userIdentity.accessKeyId") != c.akid) {
			t.Errorf("record of %s (%s): %v", c.event, c.code, r)
		}
	}
	if r := byRequestID(t, lines, reqID(refused)); get(r, "requestParameters.keyId") != "alias/none" {
		t.Errorf("a refused call's parameters are not recorded: %v", r["requestParameters"])
	}
	created := auditLines(t, n, `"eventName":"CreateKey"`)
	for _, l := range created {
		if l["eventName"] == "CreateKey" && (get(l, "responseElements.keyMetadata.keyId") != id || get(l, "requestParameters.description") != "audited") {
			t.Errorf("CreateKey record %v", l)
		}
	}
	if r := byRequestID(t, lines, reqID(pk)); r["eventName"] != opTarget || r["readOnly"] != true {
		t.Errorf("GetAuditPublicKey record %v", r)
	}

	log, _ := os.ReadFile(filepath.Join(n.Config.DataDir, "audit.log"))
	for _, s := range []string{string(secret), base64.StdEncoding.EncodeToString(secret), node.DevSecretAccessKey, `"plaintext"`, "ciphertextBlob"} {
		if bytes.Contains(log, []byte(s)) {
			t.Errorf("the audit log holds %q", s)
		}
	}
	pub, err := audit.ParsePublicKey(info.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rep := audit.Verify([]audit.Input{{Name: "audit.log", R: bytes.NewReader(log)}}, audit.VerifyOptions{PublicKeys: []ed25519.PublicKey{pub}})
	if !rep.OK() || rep.Records < 8 {
		t.Fatalf("the live log does not verify: %+v %v", rep, rep.Failure)
	}
}
