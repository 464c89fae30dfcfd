package api

import (
	"context"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/kmsnode/kmsnode/audit"
)

// What of a call goes into its audit record. CloudTrail logs a KMS call's
// request members (key IDs, encryption context, key spec, grant tokens, the
// policy…) but never its plaintext, ciphertext or key material; kmsnode
// does the same by allowlist: a member is logged only if its wire name is
// listed below, so a secret member added to a request later stays out of
// the log until someone lists it (TestAuditParamsHoldNoSecrets walks every
// request type). Byte members are never logged, whatever their name.
// Operator operations (KmsNodeOperator.*) follow the same rule.

// Caps on what one record may hold, so a hostile request cannot make a
// record of its body's size.
const (
	auditStringMax    = 2048     // a key ID, ARN, alias, description, …
	auditPolicyMax    = 32 << 10 // a key or identity policy
	auditListMax      = 100      // items of a list, entries of a map
	auditUserAgentMax = 1024
	auditTargetMax    = 128 // eventName of a call whose target is not one of ours
	truncatedMark     = "…(truncated)"
)

// allowlist maps the wire names of logged members to the longest string
// kept of each.
type allowlist map[string]int

// auditRequestMembers are the request members logged.
var auditRequestMembers = &allowlist{
	// Keys and crypto parameters.
	"KeyId": auditStringMax, "SourceKeyId": auditStringMax, "DestinationKeyId": auditStringMax,
	"TargetKeyId": auditStringMax, "AliasName": auditStringMax, "KeyMaterialId": auditStringMax,
	"SourceKeyMaterialId": auditStringMax, "EncryptionContext": auditStringMax,
	"SourceEncryptionContext": auditStringMax, "DestinationEncryptionContext": auditStringMax,
	"EncryptionAlgorithm": auditStringMax, "SourceEncryptionAlgorithm": auditStringMax,
	"DestinationEncryptionAlgorithm": auditStringMax, "KeySpec": auditStringMax, "KeyPairSpec": auditStringMax,
	"CustomerMasterKeySpec": auditStringMax, "KeyUsage": auditStringMax, "NumberOfBytes": auditStringMax,
	"Origin": auditStringMax, "MultiRegion": auditStringMax, "Description": auditStringMax,
	"SigningAlgorithm": auditStringMax, "MessageType": auditStringMax, "MacAlgorithm": auditStringMax,
	"KeyAgreementAlgorithm": auditStringMax, "WrappingAlgorithm": auditStringMax, "WrappingKeySpec": auditStringMax,
	"ExpirationModel": auditStringMax, "ValidTo": auditStringMax, "ImportType": auditStringMax,
	"KeyMaterialDescription": auditStringMax, "PendingWindowInDays": auditStringMax,
	"RotationPeriodInDays": auditStringMax, "BypassPolicyLockoutSafetyCheck": auditStringMax,
	"DryRun": auditStringMax, "DryRunModifiers": auditStringMax, "GrantTokens": auditStringMax,
	// Policies are logged, as CloudTrail does, but capped.
	"Policy": auditPolicyMax, "PolicyName": auditStringMax, "ReplicaPolicy": auditPolicyMax,
	// Tags.
	"Tags": auditStringMax, "ReplicaTags": auditStringMax, "TagKey": auditStringMax, "TagValue": auditStringMax,
	"TagKeys": auditStringMax,
	// Grants. A grant token is not a secret (AWS: it only makes a new grant
	// usable at once).
	"GrantId": auditStringMax, "GrantToken": auditStringMax, "GranteePrincipal": auditStringMax,
	"RetiringPrincipal": auditStringMax, "Operations": auditStringMax, "Constraints": auditStringMax,
	"EncryptionContextSubset": auditStringMax, "EncryptionContextEquals": auditStringMax, "Name": auditStringMax,
	// Paging.
	"Limit": auditStringMax, "Marker": auditStringMax,
	// Multi-region keys.
	"ReplicaRegion": auditStringMax, "PrimaryRegion": auditStringMax,
	// Custom key stores (the XKS proxy credential is not listed).
	"CustomKeyStoreId": auditStringMax, "CustomKeyStoreName": auditStringMax, "NewCustomKeyStoreName": auditStringMax,
	"CloudHsmClusterId": auditStringMax, "TrustAnchorCertificate": auditPolicyMax, "XksKeyId": auditStringMax,
	"XksProxyUriEndpoint": auditStringMax, "XksProxyUriPath": auditStringMax,
	"XksProxyVpcEndpointServiceName": auditStringMax, "XksProxyVpcEndpointServiceOwner": auditStringMax,
	"XksProxyConnectivity": auditStringMax, "CustomKeyStoreType": auditStringMax,
	// Operator and identity administration (KmsNodeOperator.*).
	// The seal operations' shares (Key, NewKey) and the gossip key are bytes
	// and not listed.
	"NodeId": auditStringMax, "AccessKeyId": auditStringMax, "Identity": auditStringMax,
	"NoAccessKey": auditStringMax, "PolicyDocument": auditPolicyMax, "Op": auditStringMax,
	"Reset": auditStringMax, "Nonce": auditStringMax, "Shares": auditStringMax, "Threshold": auditStringMax,
	"Provider": auditStringMax,
}

// auditResponseMembers are the response members logged for the calls
// that create something: the identifiers CloudTrail shows in
// responseElements, nothing else (never a grant token, secret access key
// or data key).
var auditResponseMembers = &allowlist{
	"KeyMetadata": auditStringMax, "ReplicaKeyMetadata": auditStringMax, "KeyId": auditStringMax,
	"Arn": auditStringMax, "GrantId": auditStringMax, "NodeId": auditStringMax,
	// CreateIdentity, CreateAccessKey: the identity and the access key ID,
	// never the SecretAccessKey beside it.
	"Identity": auditStringMax, "AccessKey": auditStringMax, "AccessKeyId": auditStringMax,
}

// auditContext records the allowlisted members of a decoded request for
// the call's audit record (every handler that decodes a request calls it:
// op, adminOp). It runs before validation, so a refused request is logged
// with what it asked for.
func auditContext(ctx context.Context, req any) {
	if rec, ok := ctx.Value(auditKey{}).(*callAudit); ok {
		rec.params = auditObject(req, auditRequestMembers)
	}
}

// auditResponse keeps a call's response for (*Server).audit, which logs
// identifiers of it when the call creates something.
func auditResponse(ctx context.Context, resp any) {
	if rec, ok := ctx.Value(auditKey{}).(*callAudit); ok {
		rec.resp = resp
	}
}

// createsResource reports whether op's responseElements name what it
// created (CreateKey, CreateGrant, ReplicateKey, operator Create* calls).
func createsResource(op string) bool {
	op = strings.TrimPrefix(op, operatorPrefix)
	return strings.HasPrefix(op, "Create") || op == "ReplicateKey"
}

// readOnlyOps are the operations, besides List*, Describe* and Get*, that
// change no state (CloudTrail's readOnly: true).
var readOnlyOps = map[string]bool{
	"Encrypt": true, "Decrypt": true, "ReEncrypt": true, "GenerateDataKey": true,
	"GenerateDataKeyWithoutPlaintext": true, "GenerateDataKeyPair": true,
	"GenerateDataKeyPairWithoutPlaintext": true, "GenerateRandom": true, "GenerateMac": true,
	"VerifyMac": true, "Sign": true, "Verify": true, "DeriveSharedSecret": true, "SealStatus": true,
}

func readOnly(op string) bool {
	op = strings.TrimPrefix(op, operatorPrefix)
	return readOnlyOps[op] || strings.HasPrefix(op, "List") || strings.HasPrefix(op, "Describe") ||
		strings.HasPrefix(op, "Get")
}

var stringMap = reflect.TypeFor[map[string]string]()

var builders = sync.Pool{New: func() any { return new(audit.ObjectBuilder) }}

// auditObject encodes the allowlisted members of v (a struct or a pointer
// to one); the zero Object (null) when there are none.
func auditObject(v any, allowed *allowlist) audit.Object {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return audit.Object{}
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return audit.Object{}
	}
	b := builders.Get().(*audit.ObjectBuilder)
	b.Reset()
	writeMembers(b, rv, allowed)
	o := b.Object()
	if b.Len() <= 64<<10 {
		builders.Put(b)
	}
	return o
}

// auditField is one logged member of a struct type.
type auditField struct {
	index int
	name  string // camelCase, as CloudTrail writes members
	limit int    // longest string kept
}

// plans caches the logged members of each struct type, per allowlist.
var plans sync.Map // planKey → []auditField

type planKey struct {
	t    reflect.Type
	list *allowlist
}

func planFor(t reflect.Type, allowed *allowlist) []auditField {
	key := planKey{t, allowed}
	if p, ok := plans.Load(key); ok {
		return p.([]auditField)
	}
	var fields []auditField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		limit, ok := (*allowed)[name]
		if !ok || !loggable(f.Type) {
			continue
		}
		fields = append(fields, auditField{index: i, name: camel(name), limit: limit})
	}
	plans.Store(key, fields)
	return fields
}

// loggable reports whether values of t can be logged: strings, booleans,
// numbers, and lists, string maps and structs of them. Never bytes.
func loggable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64, reflect.Struct:
		return true
	case reflect.Pointer:
		return loggable(t.Elem())
	case reflect.Slice, reflect.Array:
		e := t.Elem()
		return e.Kind() != reflect.Uint8 && (e.Kind() == reflect.String || e.Kind() == reflect.Struct ||
			e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct)
	case reflect.Map:
		return t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String
	}
	return false
}

func camel(name string) string {
	r, size := utf8.DecodeRuneInString(name)
	if r == utf8.RuneError || unicode.IsLower(r) {
		return name
	}
	return string(unicode.ToLower(r)) + name[size:]
}

func writeMembers(b *audit.ObjectBuilder, rv reflect.Value, allowed *allowlist) {
	for _, f := range planFor(rv.Type(), allowed) {
		fv := rv.Field(f.index)
		if empty(fv) {
			continue
		}
		b.Name(f.name)
		writeValue(b, fv, f.limit, allowed)
	}
}

// empty reports whether v is absent from the request (omitted members
// decode to zero values).
func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

func writeValue(b *audit.ObjectBuilder, v reflect.Value, limit int, allowed *allowlist) {
	cutTo := func(s string) string { return cut(s, limit) }
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			b.Null() // a nil item of a list; members that are nil are skipped
			return
		}
		writeValue(b, v.Elem(), limit, allowed)
	case reflect.String:
		b.String(cutTo(v.String()))
	case reflect.Bool:
		b.Bool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.Int(v.Int())
	case reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.Int(int64(min(v.Uint(), math.MaxInt64)))
	case reflect.Float32, reflect.Float64:
		b.Float(v.Float())
	case reflect.Map:
		// loggable admits maps of strings only. The conversion copies no
		// entries (a map is a reference); named key or value types need
		// the copy.
		var m map[string]string
		if v.Type().ConvertibleTo(stringMap) {
			m = v.Convert(stringMap).Interface().(map[string]string)
		} else {
			m = make(map[string]string, v.Len())
			for it := v.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().String()
			}
		}
		b.StringMap(m, auditListMax, cutTo)
	case reflect.Slice, reflect.Array:
		b.BeginArray()
		for i := range min(v.Len(), auditListMax) {
			writeValue(b, v.Index(i), limit, allowed)
		}
		b.End()
	case reflect.Struct:
		b.BeginObject()
		writeMembers(b, v, allowed)
		b.End()
	}
}

// cut shortens s to at most limit bytes (at a character boundary) and
// marks the cut.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	i := limit - len(truncatedMark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:max(i, 0)] + truncatedMark
}

// claimedAccessKeyID returns the access key ID a request's SigV4
// credential names (Authorization header or X-Amz-Credential query), for
// the record of a request that did not authenticate. It is what the caller
// claimed, not verified; never a secret.
func claimedAccessKeyID(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return ""
		}
		cred, _, _ = strings.Cut(after, ",")
	}
	akid, _, _ := strings.Cut(strings.TrimSpace(cred), "/")
	return akid
}
