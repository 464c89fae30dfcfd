package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// FuzzAPIRequest sends correctly signed requests with fuzzed JSON bodies to
// every operation of api/routes.go, to one AWS operation kmsnode lacks and to
// an unknown target. Whatever the body, the answer is a well-formed AWS JSON
// success or error, never a 500, and the node keeps serving.
//
// One node serves the whole run (per fuzz worker process): it is started
// before f.Fuzz. Run it with
//
//	go test -run '^$' -fuzz FuzzAPIRequest -fuzztime 20s ./api/
func FuzzAPIRequest(f *testing.F) {
	n := start(f)
	id := newKeyID(f, n)
	dst := newKeyID(f, n)
	victim := newKeyID(f, n)
	createAlias(f, n, "alias/fuzz", id)
	blob := base64.StdEncoding.EncodeToString(encrypt(f, n, id, []byte("fuzz"), map[string]string{"k": "v"}))
	pt := base64.StdEncoding.EncodeToString([]byte("plaintext"))
	policy, _ := json.Marshal(awsDefaultPolicy)

	targets := append(slices.Clone(implemented), "Sign", "NoSuchOperation")
	seeds := map[string][]string{
		"CreateKey": {`{}`, `{"Description":"fuzz","KeyUsage":"ENCRYPT_DECRYPT","KeySpec":"SYMMETRIC_DEFAULT","Origin":"AWS_KMS",` +
			`"Tags":[{"TagKey":"a","TagValue":"b"}],"MultiRegion":true,"BypassPolicyLockoutSafetyCheck":true,"Policy":` + string(policy) + `}`},
		"DescribeKey":          {`{"KeyId":"` + id + `"}`, `{"KeyId":"alias/fuzz","GrantTokens":["t"]}`, `{"KeyId":"` + keyARN(id) + `"}`},
		"ListKeys":             {`{}`, `{"Limit":1,"Marker":"a2V5czp4"}`},
		"UpdateKeyDescription": {`{"KeyId":"` + id + `","Description":"d"}`},
		"EnableKey":            {`{"KeyId":"` + victim + `"}`},
		"DisableKey":           {`{"KeyId":"` + victim + `"}`},
		"ScheduleKeyDeletion":  {`{"KeyId":"` + victim + `","PendingWindowInDays":7}`},
		"CancelKeyDeletion":    {`{"KeyId":"` + victim + `"}`},
		"Encrypt":              {`{"KeyId":"` + id + `","Plaintext":"` + pt + `","EncryptionContext":{"k":"v"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`},
		"Decrypt": {`{"CiphertextBlob":"` + blob + `","EncryptionContext":{"k":"v"}}`,
			`{"CiphertextBlob":"` + blob + `","EncryptionContext":{"k":"v"},"KeyId":"alias/fuzz","DryRun":true}`},
		"ReEncrypt": {`{"CiphertextBlob":"` + blob + `","SourceEncryptionContext":{"k":"v"},"DestinationKeyId":"` + dst + `",` +
			`"DestinationEncryptionContext":{"x":"y"},"SourceKeyId":"` + id + `"}`},
		"GenerateDataKey":                 {`{"KeyId":"` + id + `","KeySpec":"AES_256"}`, `{"KeyId":"` + id + `","NumberOfBytes":64,"EncryptionContext":{"a":"b"}}`},
		"GenerateDataKeyWithoutPlaintext": {`{"KeyId":"` + id + `","KeySpec":"AES_128"}`},
		"GenerateRandom":                  {`{"NumberOfBytes":16}`},
		"CreateAlias":                     {`{"AliasName":"alias/seed","TargetKeyId":"` + id + `"}`},
		"UpdateAlias":                     {`{"AliasName":"alias/seed","TargetKeyId":"` + dst + `"}`},
		"DeleteAlias":                     {`{"AliasName":"alias/seed"}`},
		"ListAliases":                     {`{}`, `{"KeyId":"` + id + `","Limit":1}`},
		"TagResource":                     {`{"KeyId":"` + id + `","Tags":[{"TagKey":"k","TagValue":"v"}]}`},
		"UntagResource":                   {`{"KeyId":"` + id + `","TagKeys":["k"]}`},
		"ListResourceTags":                {`{"KeyId":"` + id + `","Limit":10}`},
		"EnableKeyRotation":               {`{"KeyId":"` + id + `","RotationPeriodInDays":90}`},
		"DisableKeyRotation":              {`{"KeyId":"` + id + `"}`},
		"GetKeyRotationStatus":            {`{"KeyId":"` + id + `"}`},
		"RotateKeyOnDemand":               {`{"KeyId":"` + dst + `"}`},
		"ListKeyRotations":                {`{"KeyId":"` + dst + `","Limit":5}`},
		"GetKeyPolicy":                    {`{"KeyId":"` + id + `","PolicyName":"default"}`},
		"PutKeyPolicy":                    {`{"KeyId":"` + id + `","PolicyName":"default","Policy":` + string(policy) + `}`},
		"ListKeyPolicies":                 {`{"KeyId":"` + id + `"}`},
		"ListGrants":                      {`{"KeyId":"` + id + `"}`},
		"Sign":                            {`{"KeyId":"` + id + `","Message":"` + pt + `","SigningAlgorithm":"ECDSA_SHA_256"}`},
		"NoSuchOperation":                 {`{}`},
		"CreateGrant": {`{"KeyId":"` + id + `","GranteePrincipal":"arn:aws:iam::111122223333:user/fuzz","Operations":["Encrypt","Decrypt"],"Name":"fuzz","Constraints":{"EncryptionContextSubset":{"k":"v"}}}`,
			`{"KeyId":"` + keyARN(id) + `","GranteePrincipal":"arn:aws:sts::111122223333:assumed-role/r/s","RetiringPrincipal":"arn:aws:iam::111122223333:root","Operations":["CreateGrant","RetireGrant"],"GrantTokens":["t"],"DryRun":true}`},
		"ListRetirableGrants": {`{"RetiringPrincipal":"arn:aws:iam::111122223333:user/fuzz","Limit":1}`},
		"RetireGrant":         {`{"KeyId":"` + id + `","GrantId":"` + strings.Repeat("0", 64) + `"}`, `{"GrantToken":"AQESNKvNEqs0zVbvEjRWeJCrq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6szJxd8vvetxFAzzXqi1Bcs"}`},
		"RevokeGrant":         {`{"KeyId":"` + id + `","GrantId":"` + strings.Repeat("f", 64) + `","DryRun":true}`},
	}
	for i, op := range targets {
		bodies, ok := seeds[op]
		if !ok {
			f.Fatalf("no seed for %s", op)
		}
		for _, b := range bodies {
			f.Add(byte(i), []byte(b))
		}
	}
	f.Add(byte(0), []byte(``))
	f.Add(byte(1), []byte(`null`))
	f.Add(byte(2), []byte(`{"KeyId":`))

	f.Fuzz(func(t *testing.T, target byte, body []byte) {
		op := targets[int(target)%len(targets)]
		r, err := rawDo(n, op, body, rawOpts{})
		if err != nil {
			t.Fatalf("%s %q: no answer, the node is down? %v", op, body, err)
		}
		if r.Status >= 500 {
			t.Fatalf("%s %q: server error %s", op, body, r)
		}
		if ct := r.Header.Get("Content-Type"); ct != jsonType {
			t.Fatalf("%s %q: Content-Type %q: %s", op, body, ct, r)
		}
		if r.Header.Get("x-amzn-RequestId") == "" {
			t.Fatalf("%s %q: no x-amzn-RequestId", op, body)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
			t.Fatalf("%s %q: answer is not a JSON object (%v): %s", op, body, err, r)
		}
		if r.Status == 200 {
			if !slices.Contains(implemented, op) {
				t.Fatalf("%s %q: success for an operation kmsnode lacks: %s", op, body, r)
			}
			if _, ok := m["__type"]; ok || r.Header.Get("x-amzn-ErrorType") != "" {
				t.Fatalf("%s %q: success carries an error type: %s", op, body, r)
			}
			return
		}
		checkErrorShape(t, r)
		typ := r.errType()
		switch {
		case r.Status != 400 && !(r.Status == 412 && typ == "DryRunOperationException"):
			t.Fatalf("%s %q: status %s", op, body, r)
		case typ == "KMSInternalException":
			t.Fatalf("%s %q: internal error %s", op, body, r)
		case op == "NoSuchOperation" && typ != "UnknownOperationException",
			op == "Sign" && typ != "UnsupportedOperationException":
			t.Fatalf("%s %q: %s", op, body, r)
		}
		if bytes.Contains(r.Body, []byte("panic")) || bytes.Contains(r.Body, []byte("goroutine")) {
			t.Fatalf("%s %q: the answer leaks internals: %s", op, body, r)
		}
	})
}
