package api_test

// The hostile-input table: requests an attacker or a broken client sends,
// signed with a valid identity, over HTTP to a real node. Each one gets a
// clean AWS-style error (the right __type and status, a message without
// stack traces or internal text), the node keeps serving, and nothing
// changes (keys, aliases, metadata, tags, policies, rotations).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// hostileCase is one request and the answer it must get.
type hostileCase struct {
	name string
	op   string // TrentService.<op>, or a KmsNodeOperator.<op> with o.target
	body string
	o    rawOpts
	// wire, when set, sends raw bytes instead: it edits the serialised
	// signed request (header injection the Go client would refuse to send).
	wire func(req string) string
	// before, when set, changes the request before it is signed (headers
	// the signature then covers).
	before func(*http.Request)
	status int
	typ    string // AWS __type; "" for answers of the HTTP server itself
}

// internalText are fragments that must never reach a client: Go stack
// traces, package error prefixes, library error text.
var internalText = []string{
	"goroutine ", ".go:", "panic", "runtime.", "api: ", "kms: ", "fsm: ", "cluster: ", "policy: ",
	"sigv4: ", "jsontext", "jsonv2", "unmarshal", "\t",
}

// sizedBody is a JSON object of exactly n bytes: the given members plus an
// unknown "Padding" member, which decoders skip.
func sizedBody(n int, members string) string {
	if members != "" {
		members += ","
	}
	head := `{` + members + `"Padding":"`
	return head + strings.Repeat("p", n-len(head)-2) + `"}`
}

func deepArrays(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
func deepObjects(n int) string {
	return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
}

// jsonObject is {"name": value} with value JSON-escaped.
func jsonObject(name, value string) string {
	b, err := json.Marshal(map[string]string{name: value})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// opTarget is rawOpts for an operator operation.
func opTarget(op string) rawOpts { return rawOpts{target: aws.String("KmsNodeOperator." + op)} }

// smallOps are the operations whose body limit is 64 KiB; CreateKey and
// PutKeyPolicy take 1 MiB (api/routes.go).
func smallOps() []string {
	var out []string
	for _, op := range implemented {
		if op != "CreateKey" && op != "PutKeyPolicy" {
			out = append(out, op)
		}
	}
	return out
}

func hostileCases(key, blob string, blobBytes []byte) []hostileCase {
	const small, large = 64 << 10, 1 << 20
	var cs []hostileCase
	add := func(c hostileCase) { cs = append(cs, c) }

	// ---- oversized bodies: one byte over each route's limit ----
	for _, op := range smallOps() {
		add(hostileCase{name: op + " 64 KiB + 1", op: op, body: sizedBody(small+1, `"KeyId":"`+key+`"`), status: 400, typ: "ValidationException"})
	}
	for _, op := range []string{"CreateKey", "PutKeyPolicy"} {
		add(hostileCase{name: op + " 1 MiB + 1", op: op, body: sizedBody(large+1, ""), status: 400, typ: "ValidationException"})
	}
	for _, op := range []string{"ListMembers", "RemoveNode", "GossipKeyring"} {
		add(hostileCase{name: "operator " + op + " 64 KiB + 1", op: op, o: opTarget(op), body: sizedBody(small+1, ""), status: 400, typ: "ValidationException"})
	}
	// At the limit the size is fine and the missing members are the error.
	add(hostileCase{name: "DescribeKey exactly 64 KiB", op: "DescribeKey", body: sizedBody(small, ""), status: 400, typ: "ValidationException"})
	add(hostileCase{name: "PutKeyPolicy exactly 1 MiB", op: "PutKeyPolicy", body: sizedBody(large, `"KeyId":"`+key+`"`), status: 400, typ: "ValidationException"})

	// ---- deep nesting (10 000 levels) ----
	add(hostileCase{name: "KeyId nested 10000 arrays deep", op: "DescribeKey", body: `{"KeyId":` + deepArrays(10000) + `}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "unknown member nested 10000 objects deep", op: "DescribeKey", body: `{"KeyId":"` + key + `","X":` + deepObjects(10000) + `}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "encryption context nested 10000 deep", op: "Encrypt", body: `{"KeyId":"` + key + `","Plaintext":"eA==","EncryptionContext":{"k":` + deepArrays(10000) + `}}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "policy text nested 10000 deep", op: "PutKeyPolicy", body: `{"KeyId":"` + key + `","Policy":"{\"Statement\":` + deepArrays(10000) + `}"}`, status: 400, typ: "MalformedPolicyDocumentException"})
	add(hostileCase{name: "operator RemoveNode nested 10000 deep", op: "RemoveNode", o: opTarget("RemoveNode"), body: `{"NodeId":` + deepArrays(10000) + `}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "operator GossipKeyring nested 10000 deep", op: "GossipKeyring", o: opTarget("GossipKeyring"), body: `{"Op":` + deepObjects(10000) + `}`, status: 400, typ: "SerializationException"})

	// ---- policies over the size limit: 131072 characters, the model's
	// PolicyType max (policy.MaxSize), checked with the model ----
	bigPolicy := `{"Version":"2012-10-17","Statement":[{"Sid":"` + strings.Repeat("s", 131072) + `","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`
	add(hostileCase{name: "PutKeyPolicy over 131072 characters", op: "PutKeyPolicy", body: `{"KeyId":"` + key + `","Policy":"` + strings.ReplaceAll(bigPolicy, `"`, `\"`) + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "CreateKey policy over 131072 characters", op: "CreateKey", body: `{"Policy":"` + strings.ReplaceAll(bigPolicy, `"`, `\"`) + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "policy with a character outside Latin-1", op: "PutKeyPolicy", body: `{"KeyId":"` + key + `","Policy":"{\"Statement\":[] \u4e16}"}`, status: 400, typ: "ValidationException"})

	// ---- invalid UTF-8 ----
	add(hostileCase{name: "invalid UTF-8 in a string", op: "DescribeKey", body: "{\"KeyId\":\"\xff\xfe\"}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "invalid UTF-8 in a member name", op: "DescribeKey", body: "{\"KeyId\":\"" + key + "\",\"\xc3\x28\":1}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "invalid UTF-8 in an encryption context key", op: "Encrypt", body: "{\"KeyId\":\"" + key + "\",\"Plaintext\":\"eA==\",\"EncryptionContext\":{\"\xed\xa0\x80\":\"v\"}}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "invalid UTF-8 in a write", op: "CreateKey", body: "{\"Description\":\"ok \xc0\xaf\"}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "invalid UTF-8 in a tag value", op: "TagResource", body: "{\"KeyId\":\"" + key + "\",\"Tags\":[{\"TagKey\":\"k\",\"TagValue\":\"\xf8\x88\x80\x80\x80\"}]}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "lone surrogate escape", op: "UpdateKeyDescription", body: `{"KeyId":"` + key + `","Description":"\ud800"}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "non-ASCII alias name", op: "CreateAlias", body: `{"AliasName":"alias/caf\u00e9","TargetKeyId":"` + key + `"}`, status: 400, typ: "ValidationException"})

	// ---- malformed and overlong ARNs and key IDs ----
	add(hostileCase{name: "KeyId of 2049 characters", op: "DescribeKey", body: `{"KeyId":"` + strings.Repeat("a", 2049) + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "key ARN of 2049 characters", op: "DescribeKey", body: `{"KeyId":"` + keyARN(strings.Repeat("1", 2049-len(keyARN("")))) + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "key ARN of 2048 characters", op: "DescribeKey", body: `{"KeyId":"` + keyARN(strings.Repeat("1", 2048-len(keyARN("")))) + `"}`, status: 400, typ: "NotFoundException"})
	for _, ref := range []string{"arn:", "arn:aws", "arn:aws:kms", "arn:aws:kms:us-east-1:111122223333:", "arn:aws:kms:us-east-1:111122223333:key"} {
		add(hostileCase{name: fmt.Sprintf("malformed ARN %q", ref), op: "DescribeKey", body: jsonObject("KeyId", ref), status: 400, typ: "InvalidArnException"})
	}
	for _, ref := range []string{
		"arn:aws:kms:us-east-1:111122223333:key/", "arn:aws:kms:us-east-1:111122223333:alias/", "arn:aws:kms:::key/" + key,
		"arn:aws:kms:eu-west-1:111122223333:key/" + key, "arn:aws:kms:us-east-1:999999999999:key/" + key,
		"arn:aws-cn:kms:us-east-1:111122223333:key/" + key, "arn:aws:s3:us-east-1:111122223333:key/" + key,
		"arn:aws:kms:us-east-1:111122223333:key/" + key + "/extra", "ARN:AWS:KMS:US-EAST-1:111122223333:KEY/" + key,
		"alias/", "alias", "../../" + key, key + "\x00", "\x00", " " + key, key + "\n", key + "\r\nX-Injected: 1",
		"mrk-" + strings.Repeat("z", 32), "arn:aws:kms:us-east-1:111122223333:alias/" + strings.Repeat("a", 2000),
	} {
		add(hostileCase{name: fmt.Sprintf("unknown key %.60q", ref), op: "DescribeKey", body: jsonObject("KeyId", ref), status: 400, typ: "NotFoundException"})
	}
	add(hostileCase{name: "alias name of 257 characters", op: "CreateAlias", body: `{"AliasName":"alias/` + strings.Repeat("a", 251) + `","TargetKeyId":"` + key + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "alias target is a malformed ARN", op: "CreateAlias", body: `{"AliasName":"alias/hostile","TargetKeyId":"arn:aws:kms:us-east-1:111122223333:key/"}`, status: 400, typ: "NotFoundException"})
	add(hostileCase{name: "alias name with a NUL", op: "CreateAlias", body: `{"AliasName":"alias/a\u0000b","TargetKeyId":"` + key + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "ReEncrypt to a malformed ARN", op: "ReEncrypt", body: `{"CiphertextBlob":"` + blob + `","SourceEncryptionContext":{"k":"v"},"DestinationKeyId":"arn:aws:kms"}`, status: 400, typ: "InvalidArnException"})
	add(hostileCase{name: "TagResource on an alias ARN", op: "TagResource", body: `{"KeyId":"` + aliasARN("alias/hostile") + `","Tags":[{"TagKey":"k","TagValue":"v"}]}`, status: 400, typ: "NotFoundException"})

	// ---- header injection, duplicated and huge headers ----
	target := "X-Amz-Target: TrentService.ListKeys\r\n"
	add(hostileCase{name: "bare CR in X-Amz-Target", op: "ListKeys", body: `{}`, wire: func(r string) string {
		return strings.Replace(r, target, "X-Amz-Target: TrentService.ListKeys\rX-Injected: 1\r\n", 1)
	}, status: 400})
	add(hostileCase{name: "NUL in X-Amz-Target", op: "ListKeys", body: `{}`, wire: func(r string) string {
		return strings.Replace(r, target, "X-Amz-Target: TrentService.ListKeys\x00CreateKey\r\n", 1)
	}, status: 400})
	add(hostileCase{name: "LF splits X-Amz-Target after signing", op: "ListKeys", body: `{}`, wire: func(r string) string {
		return strings.Replace(r, target, "X-Amz-Target: TrentService.CreateKey\nX-Injected: TrentService.ListKeys\r\n", 1)
	}, status: 400, typ: "InvalidSignatureException"})
	add(hostileCase{name: "folded X-Amz-Target line", op: "ListKeys", body: `{}`, wire: func(r string) string {
		return strings.Replace(r, target, "X-Amz-Target: TrentService.ListKeys\r\n TrentService.CreateKey\r\n", 1)
	}, status: 400})
	add(hostileCase{name: "two X-Amz-Target headers, both signed", op: "ListKeys", body: `{}`, before: func(r *http.Request) {
		r.Header.Add("X-Amz-Target", "TrentService.CreateKey")
	}, status: 400, typ: "UnknownOperationException"})
	add(hostileCase{name: "a second, forged Authorization header", op: "CreateKey", body: `{}`, o: rawOpts{after: func(r *http.Request) {
		r.Header.Add("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAFORGEDFORGED0000/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
	}}, status: 400, typ: "IncompleteSignatureException"})
	add(hostileCase{name: "a forged Authorization header first", op: "CreateKey", body: `{}`, o: rawOpts{after: func(r *http.Request) {
		good := r.Header.Get("Authorization")
		r.Header["Authorization"] = []string{"AWS4-HMAC-SHA256 Credential=AKIAFORGEDFORGED0000/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00", good}
	}}, status: 400, typ: "IncompleteSignatureException"})
	add(hostileCase{name: "two X-Amz-Date headers", op: "ListKeys", body: `{}`, o: rawOpts{after: func(r *http.Request) {
		r.Header.Add("X-Amz-Date", "20000101T000000Z")
	}}, status: 400, typ: "IncompleteSignatureException"})
	add(hostileCase{name: "a 70 KiB header", op: "ListKeys", body: `{}`, o: rawOpts{after: func(r *http.Request) {
		r.Header.Set("X-Huge", strings.Repeat("h", 70<<10))
	}}, status: 431})
	add(hostileCase{name: "a 60 KiB X-Amz-Target, signed", op: "", body: `{}`, o: rawOpts{target: aws.String("TrentService." + strings.Repeat("T", 60<<10))}, status: 400, typ: "UnknownOperationException"})
	add(hostileCase{name: "a 60 KiB Authorization", op: "ListKeys", body: `{}`, o: rawOpts{after: func(r *http.Request) {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+strings.Repeat("A", 60<<10))
	}}, status: 400, typ: "IncompleteSignatureException"})

	// ---- wrong Content-Type, wrong method ----
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", "application/x-amz-json-1.1; charset=\"", "application/x-amz-json-1.1, text/plain"} {
		add(hostileCase{name: "Content-Type " + ct, op: "CreateKey", body: `{}`, o: rawOpts{header: map[string]string{"Content-Type": ct}}, status: 415, typ: "UnsupportedMediaTypeException"})
	}
	add(hostileCase{name: "two Content-Type headers", op: "CreateKey", body: `{}`, before: func(r *http.Request) {
		r.Header.Add("Content-Type", "text/plain")
	}, status: 415, typ: "UnsupportedMediaTypeException"})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		add(hostileCase{name: m + " instead of POST", op: "CreateKey", body: `{}`, o: rawOpts{method: m}, status: 400, typ: "UnknownOperationException"})
	}
	add(hostileCase{name: "POST to another path", op: "CreateKey", body: `{}`, o: rawOpts{path: "/2014-11-01/keys"}, status: 400, typ: "UnknownOperationException"})

	// ---- truncated and garbage ciphertexts ----
	half := b64(blobBytes[:len(blobBytes)/2])
	flipped := append([]byte(nil), blobBytes...)
	flipped[len(flipped)-1] ^= 1
	for name, ct := range map[string]string{
		"truncated ciphertext": half, "ciphertext without its last byte": b64(blobBytes[:len(blobBytes)-1]),
		"ciphertext with a flipped bit": b64(flipped), "garbage ciphertext": b64([]byte("hello, world")),
		"one-byte ciphertext": "AA==", "ciphertext of zeros": b64(make([]byte, 200)),
		"ciphertext with a wrong version": b64(append([]byte{0xff}, blobBytes[1:]...)),
	} {
		add(hostileCase{name: name, op: "Decrypt", body: `{"CiphertextBlob":"` + ct + `","EncryptionContext":{"k":"v"}}`, status: 400, typ: "InvalidCiphertextException"})
		add(hostileCase{name: "ReEncrypt " + name, op: "ReEncrypt", body: `{"CiphertextBlob":"` + ct + `","SourceEncryptionContext":{"k":"v"},"DestinationKeyId":"` + key + `"}`, status: 400, typ: "InvalidCiphertextException"})
	}
	add(hostileCase{name: "ciphertext of 6145 bytes", op: "Decrypt", body: `{"CiphertextBlob":"` + b64(make([]byte, 6145)) + `"}`, status: 400, typ: "ValidationException"})
	add(hostileCase{name: "ciphertext that is not base64", op: "Decrypt", body: `{"CiphertextBlob":"!!not base64!!"}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "ciphertext as a number", op: "Decrypt", body: `{"CiphertextBlob":12345}`, status: 400, typ: "SerializationException"})
	add(hostileCase{name: "right ciphertext, NUL in the context", op: "Decrypt", body: `{"CiphertextBlob":"` + blob + `","EncryptionContext":{"k":"v\u0000"}}`, status: 400, typ: "InvalidCiphertextException"})

	// ---- negative and huge numbers ----
	for _, c := range []struct{ op, body, typ string }{
		{"ListKeys", `{"Limit":-1}`, "ValidationException"},
		{"ListKeys", `{"Limit":0}`, "ValidationException"},
		{"ListKeys", `{"Limit":1001}`, "ValidationException"},
		{"ListKeys", `{"Limit":2147483648}`, "SerializationException"},
		{"ListKeys", `{"Limit":-2147483649}`, "SerializationException"},
		{"ListKeys", `{"Limit":1e400}`, "SerializationException"},
		{"ListKeys", `{"Limit":99999999999999999999999999999999}`, "SerializationException"},
		{"ListKeys", `{"Limit":1.5}`, "SerializationException"},
		{"ListKeys", `{"Limit":NaN}`, "SerializationException"},
		{"ListKeys", `{"Limit":-0}`, "ValidationException"},
		{"GenerateRandom", `{"NumberOfBytes":-1}`, "ValidationException"},
		{"GenerateRandom", `{"NumberOfBytes":1025}`, "ValidationException"},
		{"GenerateRandom", `{"NumberOfBytes":9223372036854775808}`, "SerializationException"},
		{"GenerateDataKey", `{"KeyId":"` + key + `","NumberOfBytes":-2147483648}`, "ValidationException"},
		{"GenerateDataKey", `{"KeyId":"` + key + `","NumberOfBytes":1025}`, "ValidationException"},
		{"ScheduleKeyDeletion", `{"KeyId":"` + key + `","PendingWindowInDays":-7}`, "ValidationException"},
		{"ScheduleKeyDeletion", `{"KeyId":"` + key + `","PendingWindowInDays":6}`, "ValidationException"},
		{"ScheduleKeyDeletion", `{"KeyId":"` + key + `","PendingWindowInDays":31}`, "ValidationException"},
		{"EnableKeyRotation", `{"KeyId":"` + key + `","RotationPeriodInDays":89}`, "ValidationException"},
		{"EnableKeyRotation", `{"KeyId":"` + key + `","RotationPeriodInDays":2561}`, "ValidationException"},
		{"EnableKeyRotation", `{"KeyId":"` + key + `","RotationPeriodInDays":-2147483648}`, "ValidationException"},
	} {
		add(hostileCase{name: c.op + " " + c.body, op: c.op, body: c.body, status: 400, typ: c.typ})
	}

	// ---- NUL bytes ----
	add(hostileCase{name: "raw NUL inside a string", op: "DescribeKey", body: "{\"KeyId\":\"" + key + "\x00\"}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "raw NUL between members", op: "DescribeKey", body: "{\"KeyId\":\"" + key + "\"\x00}", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "NUL as the whole body", op: "DescribeKey", body: "\x00", status: 400, typ: "SerializationException"})
	add(hostileCase{name: "escaped NUL as the key ID", op: "Encrypt", body: `{"KeyId":"\u0000","Plaintext":"eA=="}`, status: 400, typ: "NotFoundException"})
	return cs
}

// send runs one case and returns the answer.
func (c hostileCase) send(t *testing.T, n *testnode.Node) *rawResp {
	t.Helper()
	if c.before != nil {
		req, err := signedRequest(n, c.op, []byte(c.body), c.before)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rawHTTP.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return &rawResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}
	if c.wire == nil {
		r, err := rawDo(n, c.op, []byte(c.body), c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		return r
	}
	req, err := signedRequest(n, c.op, []byte(c.body), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	raw := buf.String()
	edited := c.wire(raw)
	if edited == raw {
		t.Fatalf("%s: the edit did not apply to:\n%s", c.name, raw)
	}
	r, err := rawWire(n, edited)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return r
}

// signedRequest is a correctly signed TrentService.<op> request; before,
// if set, edits it before signing.
func signedRequest(n *testnode.Node, op string, body []byte, before func(*http.Request)) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, n.URL()+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", jsonType)
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	if before != nil {
		before(req)
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: node.DevAccessKeyID, SecretAccessKey: node.DevSecretAccessKey},
		req, hex.EncodeToString(sum[:]), "kms", testRegion, time.Now())
	return req, err
}

// rawWire writes raw bytes on a new connection and reads one answer.
func rawWire(n *testnode.Node, raw string) (*rawResp, error) {
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.URL(), "http://"), 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &rawResp{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

func TestHostileInputs(t *testing.T) {
	t.Parallel()
	n := start(t)
	key := newKeyID(t, n)
	createAlias(t, n, "alias/hostile", key)
	blobBytes := encrypt(t, n, key, []byte("hostile"), map[string]string{"k": "v"})
	blob := b64(blobBytes)
	before := snapshot(t, n)

	for _, c := range hostileCases(key, blob, blobBytes) {
		t.Run(c.name, func(t *testing.T) {
			r := c.send(t, n)
			if c.typ != "" {
				wantRawErr(t, r, c.status, c.typ)
			} else if r.Status != c.status {
				t.Fatalf("want HTTP %d, got %s", c.status, r)
			}
			for _, bad := range internalText {
				if strings.Contains(string(r.Body), bad) {
					t.Fatalf("the answer reveals internal text %q: %s", bad, r)
				}
			}
			if r.Status >= 500 {
				t.Fatalf("server error: %s", r)
			}
		})
		// The node keeps serving after every case.
		if resp, err := http.Get(n.URL() + "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after %q the node does not answer /healthz: %v", c.name, err)
		} else {
			resp.Body.Close()
		}
	}

	// 100 MiB streamed, with and without a declared length: refused after
	// the largest body any operation takes, not read to the end.
	for _, declared := range []bool{false, true} {
		o := rawOpts{bodyReader: io.LimitReader(zeroReader{}, 100<<20)}
		if declared {
			o.after = func(r *http.Request) { r.ContentLength = 100 << 20 }
		}
		start := time.Now()
		r, err := rawDo(n, "CreateKey", nil, o)
		if err != nil {
			t.Fatalf("100 MiB body (declared length %v): %v", declared, err)
		}
		wantRawErr(t, r, 400, "ValidationException")
		t.Logf("100 MiB body (declared length %v) refused in %v", declared, time.Since(start).Round(time.Millisecond))
	}

	// Nothing changed, and the node still does real work.
	sameState(t, n, before)
	if got := decrypt(t, n, blobBytes, map[string]string{"k": "v"}); string(got.Plaintext) != "hostile" {
		t.Fatalf("Decrypt after the hostile inputs: %q", got.Plaintext)
	}
}
