package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/audit"
	"github.com/kmsnode/kmsnode/kms"
)

// wireRequests is every request shape of api/wire; TestWireRequestsListed
// keeps it complete.
var wireRequests = []reflect.Type{
	reflect.TypeFor[wire.CancelKeyDeletionRequest](),
	reflect.TypeFor[wire.ConnectCustomKeyStoreRequest](),
	reflect.TypeFor[wire.CreateAliasRequest](),
	reflect.TypeFor[wire.CreateCustomKeyStoreRequest](),
	reflect.TypeFor[wire.CreateGrantRequest](),
	reflect.TypeFor[wire.CreateKeyRequest](),
	reflect.TypeFor[wire.DecryptRequest](),
	reflect.TypeFor[wire.DeleteAliasRequest](),
	reflect.TypeFor[wire.DeleteCustomKeyStoreRequest](),
	reflect.TypeFor[wire.DeleteImportedKeyMaterialRequest](),
	reflect.TypeFor[wire.DeriveSharedSecretRequest](),
	reflect.TypeFor[wire.DescribeCustomKeyStoresRequest](),
	reflect.TypeFor[wire.DescribeKeyRequest](),
	reflect.TypeFor[wire.DisableKeyRequest](),
	reflect.TypeFor[wire.DisableKeyRotationRequest](),
	reflect.TypeFor[wire.DisconnectCustomKeyStoreRequest](),
	reflect.TypeFor[wire.EnableKeyRequest](),
	reflect.TypeFor[wire.EnableKeyRotationRequest](),
	reflect.TypeFor[wire.EncryptRequest](),
	reflect.TypeFor[wire.GenerateDataKeyPairRequest](),
	reflect.TypeFor[wire.GenerateDataKeyPairWithoutPlaintextRequest](),
	reflect.TypeFor[wire.GenerateDataKeyRequest](),
	reflect.TypeFor[wire.GenerateDataKeyWithoutPlaintextRequest](),
	reflect.TypeFor[wire.GenerateMacRequest](),
	reflect.TypeFor[wire.GenerateRandomRequest](),
	reflect.TypeFor[wire.GetKeyLastUsageRequest](),
	reflect.TypeFor[wire.GetKeyPolicyRequest](),
	reflect.TypeFor[wire.GetKeyRotationStatusRequest](),
	reflect.TypeFor[wire.GetParametersForImportRequest](),
	reflect.TypeFor[wire.GetPublicKeyRequest](),
	reflect.TypeFor[wire.ImportKeyMaterialRequest](),
	reflect.TypeFor[wire.ListAliasesRequest](),
	reflect.TypeFor[wire.ListGrantsRequest](),
	reflect.TypeFor[wire.ListKeyPoliciesRequest](),
	reflect.TypeFor[wire.ListKeyRotationsRequest](),
	reflect.TypeFor[wire.ListKeysRequest](),
	reflect.TypeFor[wire.ListResourceTagsRequest](),
	reflect.TypeFor[wire.ListRetirableGrantsRequest](),
	reflect.TypeFor[wire.PutKeyPolicyRequest](),
	reflect.TypeFor[wire.ReEncryptRequest](),
	reflect.TypeFor[wire.ReplicateKeyRequest](),
	reflect.TypeFor[wire.RetireGrantRequest](),
	reflect.TypeFor[wire.RevokeGrantRequest](),
	reflect.TypeFor[wire.RotateKeyOnDemandRequest](),
	reflect.TypeFor[wire.ScheduleKeyDeletionRequest](),
	reflect.TypeFor[wire.SignRequest](),
	reflect.TypeFor[wire.TagResourceRequest](),
	reflect.TypeFor[wire.UntagResourceRequest](),
	reflect.TypeFor[wire.UpdateAliasRequest](),
	reflect.TypeFor[wire.UpdateCustomKeyStoreRequest](),
	reflect.TypeFor[wire.UpdateKeyDescriptionRequest](),
	reflect.TypeFor[wire.UpdatePrimaryRegionRequest](),
	reflect.TypeFor[wire.VerifyMacRequest](),
	reflect.TypeFor[wire.VerifyRequest](),
}

// operatorRequests are the request shapes of kmsnode's own operations.
var operatorRequests = []reflect.Type{
	reflect.TypeFor[removeNodeRequest](),
	reflect.TypeFor[gossipKeyringRequest](),
	reflect.TypeFor[sealRequest](),
	reflect.TypeFor[kms.CreateIdentityRequest](),
	reflect.TypeFor[kms.DeleteAccessKeyRequest](),
	reflect.TypeFor[kms.IdentityRequest](),
	reflect.TypeFor[kms.ListIdentitiesRequest](),
	reflect.TypeFor[kms.IdentityPolicyRequest](),
}

// secretName matches member names that hold, or may hold, a secret: none
// may appear in an audit record.
var secretName = regexp.MustCompile(`(?i)plaintext|ciphertext|secret|password|credential|importtoken|encryptedkeymaterial|` +
	`privatekey|attestation|^key$|^newkey$|share$|^message$|^signature$|^mac$`)

// TestWireRequestsListed: wireRequests names every *Request type of
// api/wire/model_gen.go, so the walk below covers a regenerated model.
func TestWireRequestsListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "wire/model_gen.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, typ := range wireRequests {
		listed[typ.Name()] = true
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			name := s.(*ast.TypeSpec).Name.Name
			if strings.HasSuffix(name, "Request") && !listed[name] {
				t.Errorf("wire.%s is not in wireRequests", name)
			}
		}
	}
}

// canaries fills every member of v (recursively) with a value naming its
// path, and records which paths are secrets (by name or being bytes).
type canaries struct {
	secret  map[string]bool // canary → member is secret-named or bytes
	allowed map[string]bool // canary → member is a logged string
}

func (c *canaries) fill(v reflect.Value, path string, list *allowlist) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		c.fill(v.Elem(), path, list)
	case reflect.String:
		canary := "CANARY-" + path
		v.SetString(canary)
		c.note(canary, path, list)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			canary := "CANARYBYTES-" + path
			v.SetBytes([]byte(canary))
			c.secret[canary] = true
			c.secret[base64.StdEncoding.EncodeToString([]byte(canary))] = true
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		c.fill(v.Index(0), path+"[0]", list)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		c.fill(k, path+"{k}", list)
		c.fill(e, path+"{v}", list)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				c.fill(v.Field(i), path+"."+f.Name, list)
			}
		}
	}
}

func (c *canaries) note(canary, path string, list *allowlist) {
	// The first part of the path is the type's name, the rest its members.
	parts := strings.FieldsFunc(path, func(r rune) bool { return r == '.' })[1:]
	logged := true
	for _, part := range parts {
		name, _, _ := strings.Cut(part, "[")
		name, _, _ = strings.Cut(name, "{")
		if secretName.MatchString(name) {
			c.secret[canary] = true
			return
		}
		if _, ok := (*list)[name]; !ok {
			logged = false
		}
	}
	if logged {
		c.allowed[canary] = true
	}
}

// checkNoSecrets walks typ filled with canaries through the allowlist and
// fails if a secret-named member or a secret canary reaches the JSON.
func checkNoSecrets(t *testing.T, typ reflect.Type, list *allowlist, forbidden *regexp.Regexp) {
	t.Helper()
	v := reflect.New(typ)
	c := &canaries{secret: map[string]bool{}, allowed: map[string]bool{}}
	c.fill(v.Elem(), typ.Name(), list)
	text := auditObject(v.Interface(), list).String()
	if !json.Valid([]byte(text)) || !utf8.ValidString(text) {
		t.Fatalf("%s: invalid JSON %s", typ, text)
	}
	var doc any
	_ = json.Unmarshal([]byte(text), &doc)
	walkNames(doc, func(name string) {
		if forbidden.MatchString(name) {
			t.Errorf("%s: member %q reached the audit record: %s", typ, name, text)
		}
	})
	for canary := range c.secret {
		if strings.Contains(text, canary) {
			t.Errorf("%s: secret %s reached the audit record: %s", typ, canary, text)
		}
	}
	for canary := range c.allowed {
		if !strings.Contains(text, canary) && !c.secret[canary] {
			t.Errorf("%s: allowlisted %s is missing from %s", typ, canary, text)
		}
	}
}

func walkNames(v any, fn func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(k)
			// Encryption contexts and tags are caller data, not members.
			if k != "encryptionContext" && k != "sourceEncryptionContext" && k != "destinationEncryptionContext" &&
				k != "encryptionContextSubset" && k != "encryptionContextEquals" {
				walkNames(e, fn)
			}
		}
	case []any:
		for _, e := range x {
			walkNames(e, fn)
		}
	}
}

// TestAuditParamsHoldNoSecrets walks every request shape, AWS's and
// kmsnode's operator ones, with every member set, and proves that no member
// named like a secret, and no byte member, reaches requestParameters; and
// every response shape for responseElements, where grant tokens, secret
// access keys and key material are forbidden too.
func TestAuditParamsHoldNoSecrets(t *testing.T) {
	for _, typ := range append(append([]reflect.Type(nil), wireRequests...), operatorRequests...) {
		checkNoSecrets(t, typ, auditRequestMembers, secretName)
	}
	responseSecret := regexp.MustCompile(secretName.String() + `|(?i)token|plaintext|material$`)
	f, err := parser.ParseFile(token.NewFileSet(), "wire/model_gen.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
			for _, s := range g.Specs {
				if name := s.(*ast.TypeSpec).Name.Name; strings.HasSuffix(name, "Response") {
					if typ, ok := wireResponses[name]; ok {
						checkNoSecrets(t, typ, auditResponseMembers, responseSecret)
						n++
					}
				}
			}
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[kms.CreateIdentityResponse](), reflect.TypeFor[kms.CreateAccessKeyResponse]()} {
		checkNoSecrets(t, typ, auditResponseMembers, responseSecret)
	}
	if n < 5 {
		t.Errorf("only %d response shapes walked", n)
	}
}

// A request shape with members named like secrets, as a future operator
// operation might have: only the allowlisted member is logged.
type hostileRequest struct {
	Key             string
	Share           string
	UnsealShares    []string
	SecretAccessKey string
	Password        string
	Token           string
	Plaintext       string
	Blob            []byte
	KeyId           string
	Nested          struct{ KeyId string }
}

func TestAuditParamsAllowlistOnly(t *testing.T) {
	req := &hostileRequest{Key: "k", Share: "s", UnsealShares: []string{"u"}, SecretAccessKey: "sak", Password: "p",
		Token: "t", Plaintext: "pt", Blob: []byte("b"), KeyId: "alias/x"}
	req.Nested.KeyId = "n"
	if got := auditObject(req, auditRequestMembers).String(); got != `{"keyId":"alias/x"}` {
		t.Errorf("got %s", got)
	}
}

func TestAuditParamsShape(t *testing.T) {
	dry := true
	req := &wire.CreateGrantRequest{KeyId: "alias/app", GranteePrincipal: "arn:aws:iam::111122223333:role/r",
		Operations: []string{"Encrypt", "Decrypt"}, Constraints: &wire.GrantConstraints{EncryptionContextSubset: wire.EncryptionContext{"b": "2", "a": "1"}},
		GrantTokens: []string{"gt"}, Name: "n", DryRun: &dry}
	want := `{"keyId":"alias/app","granteePrincipal":"arn:aws:iam::111122223333:role/r","operations":["Encrypt","Decrypt"],` +
		`"constraints":{"encryptionContextSubset":{"a":"1","b":"2"}},"grantTokens":["gt"],"name":"n","dryRun":true}`
	if got := auditObject(req, auditRequestMembers).String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := auditObject(&wire.ListKeysRequest{}, auditRequestMembers); !got.IsNull() {
		t.Errorf("an empty request gives %s, want null", got)
	}
	// Long members are cut, at a character boundary, with a mark.
	long := strings.Repeat("é", auditPolicyMax)
	got := auditObject(&wire.PutKeyPolicyRequest{KeyId: strings.Repeat("k", 5000), Policy: long}, auditRequestMembers).String()
	var m map[string]string
	if err := json.Unmarshal([]byte(got), &m); err != nil {
		t.Fatal(err)
	}
	if len(m["keyId"]) > auditStringMax || !strings.HasSuffix(m["keyId"], truncatedMark) ||
		len(m["policy"]) > auditPolicyMax || !utf8.ValidString(m["policy"]) || !strings.HasSuffix(m["policy"], truncatedMark) {
		t.Errorf("not cut: keyId %d bytes, policy %d bytes", len(m["keyId"]), len(m["policy"]))
	}
	// Lists and maps are capped too.
	ec := wire.EncryptionContext{}
	for i := range 500 {
		ec[strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	got = auditObject(&wire.EncryptRequest{EncryptionContext: ec, GrantTokens: make([]string, 500)}, auditRequestMembers).String()
	var e struct {
		EncryptionContext map[string]string
		GrantTokens       []string
	}
	if err := json.Unmarshal([]byte(got), &e); err != nil || len(e.EncryptionContext) != auditListMax || len(e.GrantTokens) != auditListMax {
		t.Errorf("caps: %d entries, %d tokens, %v", len(e.EncryptionContext), len(e.GrantTokens), err)
	}
}

func TestAuditResponseElements(t *testing.T) {
	resp := &wire.CreateKeyResponse{KeyMetadata: &wire.KeyMetadata{KeyId: "k-1", Arn: "arn:aws:kms:us-east-1:111122223333:key/k-1",
		Description: "d", KeyState: "Enabled"}}
	if got := auditObject(resp, auditResponseMembers).String(); got != `{"keyMetadata":{"keyId":"k-1","arn":"arn:aws:kms:us-east-1:111122223333:key/k-1"}}` {
		t.Errorf("CreateKey: %s", got)
	}
	grant := &wire.CreateGrantResponse{GrantId: "g-1", GrantToken: "token"}
	if got := auditObject(grant, auditResponseMembers).String(); got != `{"grantId":"g-1"}` {
		t.Errorf("CreateGrant: %s", got)
	}
	for op, want := range map[string]bool{"CreateKey": true, "CreateGrant": true, "ReplicateKey": true,
		operatorPrefix + "CreateIdentity": true, "Encrypt": false, "CreateAliasX": true, "DescribeKey": false} {
		if createsResource(op) != want {
			t.Errorf("createsResource(%s) = %v", op, !want)
		}
	}
	for op, want := range map[string]bool{"Encrypt": true, "Decrypt": true, "GenerateRandom": true, "ListKeys": true,
		"DescribeKey": true, "GetKeyPolicy": true, "CreateKey": false, "ScheduleKeyDeletion": false,
		operatorPrefix + "ListMembers": true, operatorPrefix + "RemoveNode": false, operatorPrefix + "GetAuditPublicKey": true, "": false} {
		if readOnly(op) != want {
			t.Errorf("readOnly(%q) = %v", op, !want)
		}
	}
}

func TestClaimedAccessKeyID(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAFORGED/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
	if got := claimedAccessKeyID(r); got != "AKIAFORGED" {
		t.Errorf("header: %q", got)
	}
	r = httptest.NewRequest("POST", "/?X-Amz-Credential=AKIAQUERY%2F20260101%2Fus-east-1%2Fkms%2Faws4_request", nil)
	if got := claimedAccessKeyID(r); got != "AKIAQUERY" {
		t.Errorf("query: %q", got)
	}
	r = httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "Bearer x")
	if got := claimedAccessKeyID(r); got != "" {
		t.Errorf("no credential: %q", got)
	}
}

// BenchmarkAuditRecord is the API's part of auditing one Encrypt call:
// request members through the allowlist, the record, its JSON line (the
// sink's writer then adds the chain: audit.BenchmarkChainSeal).
func BenchmarkAuditRecord(b *testing.B) {
	req := &wire.EncryptRequest{KeyId: "alias/app", Plaintext: bytes.Repeat([]byte{1}, 32),
		EncryptionContext: wire.EncryptionContext{"Department": "Finance", "Project": "X"}}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		rec := &callAudit{}
		auditContext(context.WithValue(context.Background(), auditKey{}, rec), req)
		r := audit.Record{Time: time.Now(), EventID: audit.NewEventID(), RequestID: "5c0d1f7e-3b1a-4d55-9f2a-1d2c3b4a5e6f",
			Region: "us-east-1", Node: "node-1", AccountID: "111122223333", Principal: "arn:aws:iam::111122223333:user/app",
			AccessKeyID: "AKIAEXAMPLE", SourceIP: "192.0.2.7", UserAgent: "aws-sdk-go-v2/1.36", Operation: "Encrypt",
			ReadOnly: true, KeyARN: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			RequestParameters: rec.params, Duration: 40 * time.Microsecond}
		buf = r.AppendJSON(buf[:0])
	}
}

// wireResponses are the response shapes of api/wire by name.
var wireResponses = map[string]reflect.Type{
	"CancelKeyDeletionResponse":                   reflect.TypeFor[wire.CancelKeyDeletionResponse](),
	"ConnectCustomKeyStoreResponse":               reflect.TypeFor[wire.ConnectCustomKeyStoreResponse](),
	"CreateCustomKeyStoreResponse":                reflect.TypeFor[wire.CreateCustomKeyStoreResponse](),
	"CreateGrantResponse":                         reflect.TypeFor[wire.CreateGrantResponse](),
	"CreateKeyResponse":                           reflect.TypeFor[wire.CreateKeyResponse](),
	"DecryptResponse":                             reflect.TypeFor[wire.DecryptResponse](),
	"DeleteCustomKeyStoreResponse":                reflect.TypeFor[wire.DeleteCustomKeyStoreResponse](),
	"DeleteImportedKeyMaterialResponse":           reflect.TypeFor[wire.DeleteImportedKeyMaterialResponse](),
	"DeriveSharedSecretResponse":                  reflect.TypeFor[wire.DeriveSharedSecretResponse](),
	"DescribeCustomKeyStoresResponse":             reflect.TypeFor[wire.DescribeCustomKeyStoresResponse](),
	"DescribeKeyResponse":                         reflect.TypeFor[wire.DescribeKeyResponse](),
	"DisconnectCustomKeyStoreResponse":            reflect.TypeFor[wire.DisconnectCustomKeyStoreResponse](),
	"EncryptResponse":                             reflect.TypeFor[wire.EncryptResponse](),
	"GenerateDataKeyPairResponse":                 reflect.TypeFor[wire.GenerateDataKeyPairResponse](),
	"GenerateDataKeyPairWithoutPlaintextResponse": reflect.TypeFor[wire.GenerateDataKeyPairWithoutPlaintextResponse](),
	"GenerateDataKeyResponse":                     reflect.TypeFor[wire.GenerateDataKeyResponse](),
	"GenerateDataKeyWithoutPlaintextResponse":     reflect.TypeFor[wire.GenerateDataKeyWithoutPlaintextResponse](),
	"GenerateMacResponse":                         reflect.TypeFor[wire.GenerateMacResponse](),
	"GenerateRandomResponse":                      reflect.TypeFor[wire.GenerateRandomResponse](),
	"GetKeyLastUsageResponse":                     reflect.TypeFor[wire.GetKeyLastUsageResponse](),
	"GetKeyPolicyResponse":                        reflect.TypeFor[wire.GetKeyPolicyResponse](),
	"GetKeyRotationStatusResponse":                reflect.TypeFor[wire.GetKeyRotationStatusResponse](),
	"GetParametersForImportResponse":              reflect.TypeFor[wire.GetParametersForImportResponse](),
	"GetPublicKeyResponse":                        reflect.TypeFor[wire.GetPublicKeyResponse](),
	"ImportKeyMaterialResponse":                   reflect.TypeFor[wire.ImportKeyMaterialResponse](),
	"ListAliasesResponse":                         reflect.TypeFor[wire.ListAliasesResponse](),
	"ListGrantsResponse":                          reflect.TypeFor[wire.ListGrantsResponse](),
	"ListKeyPoliciesResponse":                     reflect.TypeFor[wire.ListKeyPoliciesResponse](),
	"ListKeyRotationsResponse":                    reflect.TypeFor[wire.ListKeyRotationsResponse](),
	"ListKeysResponse":                            reflect.TypeFor[wire.ListKeysResponse](),
	"ListResourceTagsResponse":                    reflect.TypeFor[wire.ListResourceTagsResponse](),
	"ReEncryptResponse":                           reflect.TypeFor[wire.ReEncryptResponse](),
	"ReplicateKeyResponse":                        reflect.TypeFor[wire.ReplicateKeyResponse](),
	"RotateKeyOnDemandResponse":                   reflect.TypeFor[wire.RotateKeyOnDemandResponse](),
	"ScheduleKeyDeletionResponse":                 reflect.TypeFor[wire.ScheduleKeyDeletionResponse](),
	"SignResponse":                                reflect.TypeFor[wire.SignResponse](),
	"UpdateCustomKeyStoreResponse":                reflect.TypeFor[wire.UpdateCustomKeyStoreResponse](),
	"VerifyMacResponse":                           reflect.TypeFor[wire.VerifyMacResponse](),
	"VerifyResponse":                              reflect.TypeFor[wire.VerifyResponse](),
	"CreateAliasResponse":                         reflect.TypeFor[wire.CreateAliasResponse](),
	"DeleteAliasResponse":                         reflect.TypeFor[wire.DeleteAliasResponse](),
	"DisableKeyResponse":                          reflect.TypeFor[wire.DisableKeyResponse](),
	"DisableKeyRotationResponse":                  reflect.TypeFor[wire.DisableKeyRotationResponse](),
	"EnableKeyResponse":                           reflect.TypeFor[wire.EnableKeyResponse](),
	"EnableKeyRotationResponse":                   reflect.TypeFor[wire.EnableKeyRotationResponse](),
	"PutKeyPolicyResponse":                        reflect.TypeFor[wire.PutKeyPolicyResponse](),
	"RetireGrantResponse":                         reflect.TypeFor[wire.RetireGrantResponse](),
	"RevokeGrantResponse":                         reflect.TypeFor[wire.RevokeGrantResponse](),
	"TagResourceResponse":                         reflect.TypeFor[wire.TagResourceResponse](),
	"UntagResourceResponse":                       reflect.TypeFor[wire.UntagResourceResponse](),
	"UpdateAliasResponse":                         reflect.TypeFor[wire.UpdateAliasResponse](),
	"UpdateKeyDescriptionResponse":                reflect.TypeFor[wire.UpdateKeyDescriptionResponse](),
	"UpdatePrimaryRegionResponse":                 reflect.TypeFor[wire.UpdatePrimaryRegionResponse](),
}

type label string

func TestAuditParamsNamedMapTypes(t *testing.T) {
	req := &struct {
		EncryptionContext map[label]label
	}{map[label]label{"b": "2", "a": "1"}}
	if got := auditObject(req, auditRequestMembers).String(); got != `{"encryptionContext":{"a":"1","b":"2"}}` {
		t.Errorf("got %s", got)
	}
}
