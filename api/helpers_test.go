package api_test

// Shared helpers of the end-to-end API tests: a node per test, typed error
// assertions, raw signed HTTP calls and a state snapshot used to prove that
// refused requests change nothing.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

const (
	testRegion  = "us-east-1"
	testAccount = node.DevAccountID
	arnPrefix   = "arn:aws:kms:" + testRegion + ":" + testAccount + ":"
	jsonType    = "application/x-amz-json-1.1"
	// msgInvalidCiphertext is the one message of every Decrypt-side
	// authentication failure (kms/errors.go).
	msgInvalidCiphertext = "The ciphertext is invalid, was not produced by this region's keys, or the encryption context does not match."
)

// start starts a node for one test and checks it runs in the expected region.
func start(t testing.TB, opts ...testnode.Option) *testnode.Node {
	t.Helper()
	n := testnode.Start(t, opts...)
	if n.Config.Region != testRegion || n.Config.AccountID != testAccount {
		t.Fatalf("test node runs in %s/%s, tests expect %s/%s", n.Config.Region, n.Config.AccountID, testRegion, testAccount)
	}
	return n
}

func ctx(t testing.TB) context.Context { return testnode.Ctx(t) }

func keyARN(id string) string     { return arnPrefix + "key/" + id }
func aliasARN(name string) string { return arnPrefix + name }
func i32(v int32) *int32          { return &v }
func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// newKey creates a key (with in, or defaults) and returns its metadata.
func newKey(t testing.TB, n *testnode.Node, in *awskms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &awskms.CreateKeyInput{}
	}
	out, err := n.Client.CreateKey(ctx(t), in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if out.KeyMetadata == nil || out.KeyMetadata.KeyId == nil {
		t.Fatalf("CreateKey returned no key metadata: %+v", out)
	}
	return out.KeyMetadata
}

func newKeyID(t testing.TB, n *testnode.Node) string { return *newKey(t, n, nil).KeyId }

func describe(t testing.TB, n *testnode.Node, keyID string) *types.KeyMetadata {
	t.Helper()
	out, err := n.Client.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &keyID})
	if err != nil {
		t.Fatalf("DescribeKey %s: %v", keyID, err)
	}
	return out.KeyMetadata
}

func keyState(t testing.TB, n *testnode.Node, keyID string) types.KeyState {
	t.Helper()
	return describe(t, n, keyID).KeyState
}

func encrypt(t testing.TB, n *testnode.Node, keyID string, pt []byte, ec map[string]string) []byte {
	t.Helper()
	out, err := n.Client.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &keyID, Plaintext: pt, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("Encrypt under %s: %v", keyID, err)
	}
	return out.CiphertextBlob
}

func decrypt(t testing.TB, n *testnode.Node, blob []byte, ec map[string]string) *awskms.DecryptOutput {
	t.Helper()
	out, err := n.Client.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	return out
}

func createAlias(t testing.TB, n *testnode.Node, name, keyID string) {
	t.Helper()
	if _, err := n.Client.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: &name, TargetKeyId: &keyID}); err != nil {
		t.Fatalf("CreateAlias %s → %s: %v", name, keyID, err)
	}
}

func mustOK(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// typedErrors maps the AWS __type of every modelled KMS exception the tests
// expect to a check that the SDK deserialised it into its typed error.
var typedErrors = map[string]func(error) bool{
	"AlreadyExistsException":           isA[*types.AlreadyExistsException],
	"ConflictException":                isA[*types.ConflictException],
	"CustomKeyStoreNotFoundException":  isA[*types.CustomKeyStoreNotFoundException],
	"DependencyTimeoutException":       isA[*types.DependencyTimeoutException],
	"DisabledException":                isA[*types.DisabledException],
	"DryRunOperationException":         isA[*types.DryRunOperationException],
	"IncorrectKeyException":            isA[*types.IncorrectKeyException],
	"InvalidAliasNameException":        isA[*types.InvalidAliasNameException],
	"InvalidArnException":              isA[*types.InvalidArnException],
	"InvalidCiphertextException":       isA[*types.InvalidCiphertextException],
	"InvalidKeyUsageException":         isA[*types.InvalidKeyUsageException],
	"InvalidMarkerException":           isA[*types.InvalidMarkerException],
	"KMSInternalException":             isA[*types.KMSInternalException],
	"KMSInvalidStateException":         isA[*types.KMSInvalidStateException],
	"LimitExceededException":           isA[*types.LimitExceededException],
	"MalformedPolicyDocumentException": isA[*types.MalformedPolicyDocumentException],
	"NotFoundException":                isA[*types.NotFoundException],
	"TagException":                     isA[*types.TagException],
	"UnsupportedOperationException":    isA[*types.UnsupportedOperationException],
}

func isA[E error](err error) bool {
	var e E
	return errors.As(err, &e)
}

// wantErr asserts that err is the AWS error `code` as the SDK sees it: a
// smithy.APIError with that ErrorCode and, for modelled KMS exceptions, the
// SDK's typed error. It returns the message.
func wantErr(t testing.TB, err error, code string) string {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got a non-API error: %v", code, err)
		return ""
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
	if is, ok := typedErrors[code]; ok && !is(err) {
		t.Fatalf("the SDK did not deserialise %s into its typed error: %T %v", code, err, err)
	}
	return ae.ErrorMessage()
}

// ---- raw HTTP ----

// rawResp is a raw HTTP answer.
type rawResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// errType returns the __type of an error body ("" if absent).
func (r *rawResp) errType() string {
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Type
}

func (r *rawResp) String() string {
	return fmt.Sprintf("HTTP %d %s", r.Status, truncate(string(r.Body), 300))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// rawOpts shapes one raw call.
type rawOpts struct {
	noSign     bool
	akid       string
	secret     string
	signAt     time.Time
	region     string // signing region; testRegion if empty
	service    string // signing service; "kms" if empty
	method     string
	path       string
	target     *string             // nil: TrentService.<op>; set to override verbatim
	header     map[string]string   // set before signing
	after      func(*http.Request) // applied after signing
	bodyReader io.Reader           // sent instead of body (after signing body's hash)
}

var rawHTTP = &http.Client{Timeout: 30 * time.Second}

// rawCall sends body to the node as TrentService.<op>, signed with the
// development identity unless o says otherwise.
func rawCall(t testing.TB, n *testnode.Node, op string, body []byte, o rawOpts) *rawResp {
	t.Helper()
	r, err := rawDo(n, op, body, o)
	if err != nil {
		t.Fatalf("raw %s: %v", op, err)
	}
	return r
}

func rawDo(n *testnode.Node, op string, body []byte, o rawOpts) (*rawResp, error) {
	method := o.method
	if method == "" {
		method = http.MethodPost
	}
	path := o.path
	if path == "" {
		path = "/"
	}
	var rd io.Reader = bytes.NewReader(body)
	if o.bodyReader != nil {
		rd = o.bodyReader
	}
	req, err := http.NewRequest(method, n.URL()+path, rd)
	if err != nil {
		return nil, err
	}
	if o.bodyReader == nil {
		req.ContentLength = int64(len(body))
	}
	req.Header.Set("Content-Type", jsonType)
	if o.target != nil {
		if *o.target != "" {
			req.Header.Set("X-Amz-Target", *o.target)
		}
	} else {
		req.Header.Set("X-Amz-Target", "TrentService."+op)
	}
	for k, v := range o.header {
		req.Header.Set(k, v)
	}
	if !o.noSign {
		akid, secret := node.DevAccessKeyID, node.DevSecretAccessKey
		if o.akid != "" {
			akid = o.akid
		}
		if o.secret != "" {
			secret = o.secret
		}
		at := o.signAt
		if at.IsZero() {
			at = time.Now()
		}
		region, service := testRegion, "kms"
		if o.region != "" {
			region = o.region
		}
		if o.service != "" {
			service = o.service
		}
		sum := sha256.Sum256(body)
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), service, region, at)
		if err != nil {
			return nil, err
		}
	}
	if o.after != nil {
		o.after(req)
	}
	resp, err := rawHTTP.Do(req)
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

// wantRawErr asserts an AWS JSON error answer: status, __type, the
// x-amzn-ErrorType header, the content type and a request ID.
func wantRawErr(t testing.TB, r *rawResp, status int, typ string) string {
	t.Helper()
	if r.Status != status || r.errType() != typ {
		t.Fatalf("want HTTP %d %s, got %s", status, typ, r)
	}
	checkErrorShape(t, r)
	var e struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Message
}

// checkErrorShape asserts the protocol envelope of an error answer.
func checkErrorShape(t testing.TB, r *rawResp) {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, r)
	}
	typ, ok := e["__type"].(string)
	if !ok || typ == "" {
		t.Fatalf("error body has no __type: %s", r)
	}
	if _, ok := e["message"].(string); !ok {
		t.Fatalf("error body has no string message: %s", r)
	}
	if got := r.Header.Get("x-amzn-ErrorType"); got != typ {
		t.Fatalf("x-amzn-ErrorType %q, body __type %q", got, typ)
	}
	if got := r.Header.Get("Content-Type"); got != jsonType {
		t.Fatalf("error Content-Type %q, want %q", got, jsonType)
	}
	if r.Header.Get("x-amzn-RequestId") == "" {
		t.Fatalf("error answer has no x-amzn-RequestId")
	}
}

// ---- state snapshot ----

// snapshot renders everything a client can read about the region (keys,
// their metadata, tags, policies, rotation status and history, aliases) as
// one string, so a test can show that a refused request changed nothing.
func snapshot(t testing.TB, n *testnode.Node) string {
	t.Helper()
	c, cx := n.Client, ctx(t)
	var b strings.Builder
	var keys []string
	for p := awskms.NewListKeysPaginator(c, &awskms.ListKeysInput{}); p.HasMorePages(); {
		out, err := p.NextPage(cx)
		mustOK(t, "ListKeys", err)
		for _, k := range out.Keys {
			keys = append(keys, *k.KeyId)
		}
	}
	sort.Strings(keys)
	for _, id := range keys {
		md := describe(t, n, id)
		fmt.Fprintf(&b, "key %s %s\n", id, jsonOf(md))
		tags, err := c.ListResourceTags(cx, &awskms.ListResourceTagsInput{KeyId: &id})
		mustOK(t, "ListResourceTags", err)
		fmt.Fprintf(&b, "  tags %s\n", jsonOf(tags.Tags))
		pol, err := c.GetKeyPolicy(cx, &awskms.GetKeyPolicyInput{KeyId: &id})
		mustOK(t, "GetKeyPolicy", err)
		fmt.Fprintf(&b, "  policy %q\n", deref(pol.Policy))
		if md.KeyState != types.KeyStatePendingDeletion {
			rs, err := c.GetKeyRotationStatus(cx, &awskms.GetKeyRotationStatusInput{KeyId: &id})
			mustOK(t, "GetKeyRotationStatus", err)
			fmt.Fprintf(&b, "  rotation %v %v %v %v\n", rs.KeyRotationEnabled, deref(rs.RotationPeriodInDays), deref(rs.NextRotationDate), deref(rs.OnDemandRotationStartDate))
			lr, err := c.ListKeyRotations(cx, &awskms.ListKeyRotationsInput{KeyId: &id})
			mustOK(t, "ListKeyRotations", err)
			fmt.Fprintf(&b, "  rotations %s\n", jsonOf(lr.Rotations))
		}
	}
	for p := awskms.NewListAliasesPaginator(c, &awskms.ListAliasesInput{}); p.HasMorePages(); {
		out, err := p.NextPage(cx)
		mustOK(t, "ListAliases", err)
		for _, a := range out.Aliases {
			fmt.Fprintf(&b, "alias %s %s %s %v %v\n", deref(a.AliasName), deref(a.AliasArn), deref(a.TargetKeyId), deref(a.CreationDate), deref(a.LastUpdatedDate))
		}
	}
	return b.String()
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// sameState fails the test if the state differs from before.
func sameState(t testing.TB, n *testnode.Node, before string) {
	t.Helper()
	if after := snapshot(t, n); after != before {
		t.Fatalf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
