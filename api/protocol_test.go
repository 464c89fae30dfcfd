package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// implemented is every operation of api/routes.go.
var implemented = []string{
	"CreateKey", "DescribeKey", "ListKeys", "UpdateKeyDescription", "EnableKey", "DisableKey",
	"ScheduleKeyDeletion", "CancelKeyDeletion", "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
	"GenerateDataKeyWithoutPlaintext", "GenerateRandom", "CreateAlias", "UpdateAlias", "DeleteAlias",
	"ListAliases", "TagResource", "UntagResource", "ListResourceTags", "EnableKeyRotation",
	"DisableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand", "ListKeyRotations",
	"GetKeyPolicy", "PutKeyPolicy", "ListKeyPolicies", "ListGrants",
	"CreateGrant", "ListRetirableGrants", "RetireGrant", "RevokeGrant",
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	n := start(t)
	body := []byte(`{}`)
	cases := []struct {
		name   string
		o      rawOpts
		status int
		typ    string
	}{
		{"no Authorization", rawOpts{noSign: true}, 403, "MissingAuthenticationTokenException"},
		{"garbage Authorization", rawOpts{after: func(r *http.Request) { r.Header.Set("Authorization", "garbage") }}, 400, "IncompleteSignatureException"},
		{"algorithm only", rawOpts{after: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256") }}, 400, "IncompleteSignatureException"},
		{"no Signature", rawOpts{after: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}}, 400, "IncompleteSignatureException"},
		{"other algorithm", rawOpts{after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1))
		}}, 400, "IncompleteSignatureException"},
		{"no date", rawOpts{after: func(r *http.Request) { r.Header.Del("X-Amz-Date") }}, 400, "IncompleteSignatureException"},
		{"wrong secret", rawOpts{secret: "not-the-secret"}, 400, "InvalidSignatureException"},
		{"unknown access key", rawOpts{akid: "AKIAUNKNOWNUNKNOWN00"}, 400, "UnrecognizedClientException"},
		{"signed 6 minutes ago", rawOpts{signAt: time.Now().Add(-6 * time.Minute)}, 400, "InvalidSignatureException"},
		{"signed 6 minutes ahead", rawOpts{signAt: time.Now().Add(6 * time.Minute)}, 400, "InvalidSignatureException"},
		{"other region", rawOpts{region: "eu-west-1"}, 400, "InvalidSignatureException"},
		{"other service", rawOpts{service: "s3"}, 400, "InvalidSignatureException"},
		{"body changed after signing", rawOpts{bodyReader: strings.NewReader(`{"Limit":1}`)}, 400, "InvalidSignatureException"},
		{"target changed after signing", rawOpts{after: func(r *http.Request) { r.Header.Set("X-Amz-Target", "TrentService.CreateKey") }}, 400, "InvalidSignatureException"},
		{"signature altered", rawOpts{after: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			r.Header.Set("Authorization", a[:len(a)-1]+string(repl))
		}}, 400, "InvalidSignatureException"},
		{"unknown target, unsigned", rawOpts{noSign: true, target: aws.String("TrentService.Foo")}, 403, "MissingAuthenticationTokenException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawCall(t, n, "ListKeys", body, c.o)
			msg := wantRawErr(t, r, c.status, c.typ)
			if strings.Contains(msg, node.DevSecretAccessKey) {
				t.Fatalf("message reveals the secret: %q", msg)
			}
		})
	}
	// 4 minutes of skew is within AWS's 5.
	if r := rawCall(t, n, "ListKeys", body, rawOpts{signAt: time.Now().Add(-4 * time.Minute)}); r.Status != 200 {
		t.Errorf("signed 4 minutes ago: %s", r)
	}
	if keys := snapshot(t, n); keys != "" {
		t.Errorf("refused requests created state:\n%s", keys)
	}

	// The SDK sees the same errors.
	bad := testnode.NewClient(n.URL(), testRegion, node.DevAccessKeyID, "wrong secret")
	_, err := bad.ListKeys(ctx(t), &awskms.ListKeysInput{})
	wantErr(t, err, "InvalidSignatureException")
	unknown := testnode.NewClient(n.URL(), testRegion, "AKIANOBODYNOBODY0000", "x")
	_, err = unknown.ListKeys(ctx(t), &awskms.ListKeysInput{})
	wantErr(t, err, "UnrecognizedClientException")
}

func TestTargets(t *testing.T) {
	t.Parallel()
	n := start(t)
	unknown := []string{"TrentService.Foo", "TrentService.", "TrentService.createkey", "OtherService.CreateKey", "TrentService.CreateKey.Extra", ""}
	for _, target := range unknown {
		r := rawCall(t, n, "", []byte(`{}`), rawOpts{target: aws.String(target)})
		wantRawErr(t, r, 400, "UnknownOperationException")
	}
	// Every other operation of the AWS model is UnsupportedOperation.
	for _, op := range wire.Operations {
		if slices.Contains(implemented, op) {
			continue
		}
		r := rawCall(t, n, op, []byte(`{}`), rawOpts{})
		if msg := wantRawErr(t, r, 400, "UnsupportedOperationException"); !strings.Contains(msg, op) {
			t.Errorf("%s: message %q does not name the operation", op, msg)
		}
	}
	// Every implemented operation is routed: an empty body is at worst a
	// client error (ValidationException, or InvalidCiphertextException for
	// Decrypt, whose CiphertextBlob the model no longer requires), never an
	// unknown operation.
	for _, op := range implemented {
		r := rawCall(t, n, op, []byte(`{}`), rawOpts{})
		if r.Status == 200 {
			continue
		}
		checkErrorShape(t, r)
		switch typ := r.errType(); {
		case r.Status != 400, typ == "UnknownOperationException", typ == "UnsupportedOperationException", typ == "KMSInternalException":
			t.Errorf("%s with {}: %s", op, r)
		}
	}
	// Other methods and paths are not operations.
	for _, o := range []rawOpts{{method: http.MethodGet}, {method: http.MethodPut}, {path: "/other"}} {
		r := rawCall(t, n, "ListKeys", nil, o)
		if r.Status == 200 || r.Status >= 500 {
			t.Errorf("%s %s: %s", o.method, o.path, r)
		}
		checkErrorShape(t, r)
	}
}

// TestTargetWithoutServicePrefix: the target must be TrentService.<Op>.
func TestTargetWithoutServicePrefix(t *testing.T) {
	t.Parallel()
	n := start(t)
	for _, target := range []string{"CreateKey", "ListKeys"} {
		r := rawCall(t, n, "", []byte(`{}`), rawOpts{target: aws.String(target)})
		wantRawErr(t, r, 400, "UnknownOperationException")
	}
	if s := snapshot(t, n); s != "" {
		t.Errorf("a target without prefix created a key:\n%s", s)
	}
}

func TestBadBodies(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	before := snapshot(t, n)
	cases := []struct {
		op, body string
		typ      string
	}{
		{"DescribeKey", `{`, "SerializationException"},
		{"DescribeKey", `not json`, "SerializationException"},
		{"DescribeKey", `[]`, "SerializationException"},
		{"DescribeKey", `"KeyId"`, "SerializationException"},
		{"DescribeKey", `{"KeyId":5}`, "SerializationException"},
		{"DescribeKey", `{"KeyId":["` + id + `"]}`, "SerializationException"},
		{"DescribeKey", `{"KeyId":"` + id + `"}}`, "SerializationException"},
		{"Encrypt", `{"KeyId":"` + id + `","Plaintext":"***"}`, "SerializationException"},
		{"Encrypt", `{"KeyId":"` + id + `","Plaintext":"eA==","EncryptionContext":{"a":1}}`, "SerializationException"},
		{"Encrypt", `{"KeyId":"` + id + `","Plaintext":"eA==","EncryptionContext":["a"]}`, "SerializationException"},
		{"ListKeys", `{"Limit":"3"}`, "SerializationException"},
		{"ListKeys", `{"Limit":1.5}`, "SerializationException"},
		{"ListKeys", `{"Limit":99999999999}`, "SerializationException"},
		{"CreateKey", `{"MultiRegion":"yes"}`, "SerializationException"},
		{"CreateKey", `{"Tags":{"TagKey":"a"}}`, "SerializationException"},
		{"UpdateKeyDescription", `{"KeyId":"` + id + `","Description":7}`, "SerializationException"},
		// Well-formed JSON that breaks the model.
		{"DescribeKey", ``, "ValidationException"},
		{"DescribeKey", `{}`, "ValidationException"},
		{"DescribeKey", `null`, "ValidationException"},
		{"DescribeKey", `{"KeyId":null}`, "ValidationException"},
		{"DescribeKey", `{"KeyId":""}`, "ValidationException"},
		{"Encrypt", `{"KeyId":"` + id + `"}`, "ValidationException"},
		{"Encrypt", `{"Plaintext":"eA=="}`, "ValidationException"},
		{"ListKeys", `{"Limit":-1}`, "ValidationException"},
		{"UpdateKeyDescription", `{"KeyId":"` + id + `"}`, "ValidationException"},
		{"TagResource", `{"KeyId":"` + id + `"}`, "ValidationException"},
		{"TagResource", `{"KeyId":"` + id + `","Tags":[{"TagValue":"v"}]}`, "ValidationException"},
		{"UntagResource", `{"KeyId":"` + id + `"}`, "ValidationException"},
		{"CreateAlias", `{"AliasName":"alias/x"}`, "ValidationException"},
		{"PutKeyPolicy", `{"KeyId":"` + id + `"}`, "ValidationException"},
		{"ReEncrypt", `{"CiphertextBlob":"eA=="}`, "ValidationException"},
		{"GenerateRandom", `{}`, "ValidationException"},
	}
	for _, c := range cases {
		r := rawCall(t, n, c.op, []byte(c.body), rawOpts{})
		if r.Status != 400 || r.errType() != c.typ {
			t.Errorf("%s %s: %s, want %s", c.op, c.body, r, c.typ)
			continue
		}
		checkErrorShape(t, r)
	}
	sameState(t, n, before)
}

func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	before := snapshot(t, n)

	bigDescription := func(size int) []byte {
		return []byte(`{"Description":"` + strings.Repeat("a", size) + `"}`)
	}
	cases := []struct {
		name, op string
		body     []byte
	}{
		{"CreateKey over 1 MiB", "CreateKey", bigDescription(1<<20 + 10)},
		{"CreateKey 4 MiB", "CreateKey", bigDescription(4 << 20)},
		{"DescribeKey 100 KiB", "DescribeKey", []byte(`{"KeyId":"` + id + `","GrantTokens":["` + strings.Repeat("g", 100<<10) + `"]}`)},
		{"Encrypt 70 KiB", "Encrypt", []byte(`{"KeyId":"` + id + `","Plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 70<<10)) + `"}`)},
		{"PutKeyPolicy 200 KiB policy", "PutKeyPolicy", []byte(`{"KeyId":"` + id + `","Policy":"` + strings.Repeat(" ", 200<<10) + `"}`)},
		{"CreateKey 200 KiB policy", "CreateKey", []byte(`{"Policy":"` + strings.Repeat(" ", 200<<10) + `"}`)},
		{"CreateKey 9000-character description", "CreateKey", bigDescription(9000)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawCall(t, n, c.op, c.body, rawOpts{})
			if r.Status != 400 {
				t.Fatalf("%s", r)
			}
			checkErrorShape(t, r)
			if typ := r.errType(); typ != "ValidationException" && typ != "SerializationException" {
				t.Fatalf("%s", r)
			}
		})
	}
	// A huge body that is also unsigned is refused without reading it all.
	r, err := rawDo(n, "CreateKey", nil, rawOpts{noSign: true, bodyReader: io.LimitReader(zeroReader{}, 8<<20)})
	if err != nil {
		t.Fatalf("8 MiB unsigned body: %v", err)
	}
	if r.Status != 400 && r.Status != 403 && r.Status != 413 {
		t.Errorf("8 MiB unsigned body: %s", r)
	}
	sameState(t, n, before)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var requestIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestResponseEnvelope checks the AWS JSON 1.1 answer format: content type,
// request IDs, timestamps as epoch seconds, blobs as base64.
func TestResponseEnvelope(t *testing.T) {
	t.Parallel()
	n := start(t)
	ok := func(op, body string) (*rawResp, map[string]any) {
		t.Helper()
		r := rawCall(t, n, op, []byte(body), rawOpts{})
		if r.Status != 200 {
			t.Fatalf("%s: %s", op, r)
		}
		if ct := r.Header.Get("Content-Type"); ct != jsonType {
			t.Errorf("%s: Content-Type %q", op, ct)
		}
		if et := r.Header.Get("x-amzn-ErrorType"); et != "" {
			t.Errorf("%s: success carries x-amzn-ErrorType %q", op, et)
		}
		if !requestIDRE.MatchString(r.Header.Get("x-amzn-RequestId")) {
			t.Errorf("%s: x-amzn-RequestId %q", op, r.Header.Get("x-amzn-RequestId"))
		}
		d := json.NewDecoder(bytes.NewReader(r.Body))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%s: body is not a JSON object: %v: %s", op, err, r.Body)
		}
		return r, m
	}
	epoch := func(what string, v any) {
		t.Helper()
		num, isNum := v.(json.Number)
		if !isNum {
			t.Errorf("%s is %T %v, want a JSON number", what, v, v)
			return
		}
		f, err := num.Float64()
		now := float64(time.Now().Unix())
		if err != nil || math.Abs(f-now) > 400*24*3600 {
			t.Errorf("%s = %s, want epoch seconds near %v", what, num, now)
		}
	}

	r1, m := ok("CreateKey", `{"Description":"envelope"}`)
	md := m["KeyMetadata"].(map[string]any)
	epoch("KeyMetadata.CreationDate", md["CreationDate"])
	if md["Enabled"] != true || md["MultiRegion"] != false {
		t.Errorf("booleans: Enabled %v MultiRegion %v", md["Enabled"], md["MultiRegion"])
	}
	id := md["KeyId"].(string)
	r2, _ := ok("DescribeKey", `{"KeyId":"`+id+`"}`)
	if r1.Header.Get("x-amzn-RequestId") == r2.Header.Get("x-amzn-RequestId") {
		t.Error("two requests share a request ID")
	}

	pt := []byte("blob \x00\xff bytes")
	_, m = ok("Encrypt", `{"KeyId":"`+id+`","Plaintext":"`+base64.StdEncoding.EncodeToString(pt)+`"}`)
	ctB64, isStr := m["CiphertextBlob"].(string)
	if !isStr {
		t.Fatalf("CiphertextBlob is %T", m["CiphertextBlob"])
	}
	if _, err := base64.StdEncoding.DecodeString(ctB64); err != nil {
		t.Fatalf("CiphertextBlob is not standard base64: %v", err)
	}
	_, m = ok("Decrypt", `{"CiphertextBlob":"`+ctB64+`"}`)
	got, err := base64.StdEncoding.DecodeString(m["Plaintext"].(string))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Plaintext %v %v", got, err)
	}
	_, m = ok("GenerateRandom", `{"NumberOfBytes":32}`)
	if b, err := base64.StdEncoding.DecodeString(m["Plaintext"].(string)); err != nil || len(b) != 32 {
		t.Errorf("GenerateRandom Plaintext %v %v", m["Plaintext"], err)
	}

	_, m = ok("ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":7}`)
	epoch("DeletionDate", m["DeletionDate"])
	if m["PendingWindowInDays"] != json.Number("7") {
		t.Errorf("PendingWindowInDays %v", m["PendingWindowInDays"])
	}
	_, m = ok("DescribeKey", `{"KeyId":"`+id+`"}`)
	epoch("KeyMetadata.DeletionDate", m["KeyMetadata"].(map[string]any)["DeletionDate"])

	other := newKeyID(t, n)
	ok("CreateAlias", `{"AliasName":"alias/env","TargetKeyId":"`+other+`"}`)
	_, m = ok("ListAliases", `{}`)
	a := m["Aliases"].([]any)[0].(map[string]any)
	epoch("Aliases[0].CreationDate", a["CreationDate"])
	epoch("Aliases[0].LastUpdatedDate", a["LastUpdatedDate"])
	if m["Truncated"] != false {
		t.Errorf("Truncated %v", m["Truncated"])
	}
	ok("EnableKeyRotation", `{"KeyId":"`+other+`"}`)
	_, m = ok("GetKeyRotationStatus", `{"KeyId":"`+other+`"}`)
	epoch("NextRotationDate", m["NextRotationDate"])
	ok("RotateKeyOnDemand", `{"KeyId":"`+other+`"}`)
	_, m = ok("ListKeyRotations", `{"KeyId":"`+other+`"}`)
	epoch("Rotations[0].RotationDate", m["Rotations"].([]any)[0].(map[string]any)["RotationDate"])

	// Operations with no output answer an empty JSON object.
	for _, c := range [][2]string{
		{"UpdateKeyDescription", `{"KeyId":"` + other + `","Description":"x"}`},
		{"DisableKeyRotation", `{"KeyId":"` + other + `"}`},
	} {
		if r, _ := ok(c[0], c[1]); strings.TrimSpace(string(r.Body)) != "{}" {
			t.Errorf("%s answered %s", c[0], r.Body)
		}
	}

	// An error answer: status, __type, message, headers.
	r := rawCall(t, n, "DescribeKey", []byte(`{"KeyId":"alias/none"}`), rawOpts{})
	wantRawErr(t, r, 400, "NotFoundException")
	if !requestIDRE.MatchString(r.Header.Get("x-amzn-RequestId")) {
		t.Errorf("error x-amzn-RequestId %q", r.Header.Get("x-amzn-RequestId"))
	}
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	n := start(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.URL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
		}
	}
	// The readiness probe reports ready while the API serves.
	testnode.Eventually(t, 5*time.Second, "readyz answers 200", func() bool {
		resp, err := http.Get(n.URL() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}
