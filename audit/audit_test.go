package audit

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestRecordHoldsNoSecrets asserts by reflection that Record has nowhere to
// put plaintext, key material or secrets: no byte slices or arrays, no
// interfaces or pointers that could smuggle them, and no field named like a
// secret.
func TestRecordHoldsNoSecrets(t *testing.T) {
	var check func(path string, typ reflect.Type)
	check = func(path string, typ reflect.Type) {
		if typ == reflect.TypeFor[time.Time]() || typ == reflect.TypeFor[time.Duration]() {
			return
		}
		switch typ.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Uint64:
		case reflect.Slice, reflect.Array:
			if typ.Elem().Kind() == reflect.Uint8 {
				t.Errorf("%s is %v: a byte field could hold plaintext or key material", path, typ)
			}
			check(path+"[]", typ.Elem())
		case reflect.Map:
			check(path+"{key}", typ.Key())
			check(path+"{}", typ.Elem())
		case reflect.Struct:
			for i := range typ.NumField() {
				f := typ.Field(i)
				for _, bad := range []string{"plaintext", "secret", "material", "password", "token", "datakey", "ciphertext"} {
					if strings.Contains(strings.ToLower(f.Name), bad) {
						t.Errorf("%s.%s: field name suggests a secret", path, f.Name)
					}
				}
				check(path+"."+f.Name, f.Type)
			}
		default:
			t.Errorf("%s is %v: only strings, numbers, times and collections of them are allowed", path, typ)
		}
	}
	check("Record", reflect.TypeFor[Record]())
}

func TestDiscard(t *testing.T) {
	if err := Discard.Handle(context.Background(), sampleRecord(1)); err != nil {
		t.Fatal(err)
	}
}

func params(t testing.TB, build func(b *ObjectBuilder)) Object {
	t.Helper()
	var b ObjectBuilder
	b.Reset()
	build(&b)
	return b.Object()
}

func TestRecordJSONShape(t *testing.T) {
	for i, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Time: time.Unix(0, 0), Operation: "ListKeys"},
			`{"eventVersion":"1.08","userIdentity":{"type":"Unknown"},"eventTime":"1970-01-01T00:00:00Z",` +
				`"eventSource":"kms.amazonaws.com","eventName":"ListKeys","awsRegion":"","sourceIPAddress":"","userAgent":"",` +
				`"requestParameters":null,"responseElements":null,"additionalEventData":{"node":"","region":"","durationMs":0},` +
				`"requestID":"","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management"}`},
		{Record{Time: time.Unix(0, 999e6), EventID: "e-1", RequestID: "r-1", Region: "eu-west-1", Node: "n1", AccountID: "111122223333",
			Operation: "GenerateRandom", ReadOnly: true, Principal: "arn:aws:iam::111122223333:root", AccessKeyID: "AKIA1",
			KeyARN: "arn:aws:kms:eu-west-1:111122223333:key/k", Resources: []string{"arn:aws:kms:eu-west-1:111122223333:alias/x", "arn:aws:kms:eu-west-1:111122223333:alias/x"},
			RequestParameters: params(t, func(b *ObjectBuilder) { b.Name("numberOfBytes"); b.Int(32) }),
			ErrorCode:         "AccessDeniedException", ErrorMessage: "no", Duration: 1500 * time.Microsecond},
			`{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root",` +
				`"accountId":"111122223333","accessKeyId":"AKIA1"},"eventTime":"1970-01-01T00:00:00Z","eventSource":"kms.amazonaws.com",` +
				`"eventName":"GenerateRandom","awsRegion":"eu-west-1","sourceIPAddress":"","userAgent":"","errorCode":"AccessDeniedException",` +
				`"errorMessage":"no","requestParameters":{"numberOfBytes":32},"responseElements":null,` +
				`"additionalEventData":{"node":"n1","region":"eu-west-1","durationMs":1.5},"requestID":"r-1","eventID":"e-1","readOnly":true,` +
				`"resources":[{"accountId":"111122223333","type":"AWS::KMS::Key","ARN":"arn:aws:kms:eu-west-1:111122223333:key/k"},` +
				`{"accountId":"111122223333","type":"AWS::KMS::Alias","ARN":"arn:aws:kms:eu-west-1:111122223333:alias/x"}],` +
				`"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`},
	} {
		if got := string(tc.r.AppendJSON(nil)); got != tc.want {
			t.Errorf("%d: got\n%s\nwant\n%s", i, got, tc.want)
		}
	}
	if got, err := json.Marshal(sampleRecord(1)); err != nil || string(got) != string(sampleRecord(1).AppendJSON(nil)) {
		t.Errorf("MarshalJSON = %s, %v", got, err)
	}
}

func TestUserIdentity(t *testing.T) {
	for _, tc := range []struct{ arn, typ, principalID string }{
		{"", "Unknown", ""},
		{"arn:aws:iam::111122223333:root", "Root", "111122223333"},
		{"arn:aws:iam::111122223333:user/alice", "IAMUser", "alice"},
		{"arn:aws:iam::111122223333:user/ops/team/bob", "IAMUser", "bob"},
		{"arn:aws:sts::111122223333:assumed-role/Admin/session-1", "AssumedRole", "Admin:session-1"},
		{"arn:aws:iam::111122223333:role/Deployer", "AssumedRole", "Deployer"},
		{"arn:aws:sts::111122223333:federated-user/carol", "FederatedUser", "carol"},
		{"arn:aws:iam::111122223333:group/g", "Unknown", "g"},
	} {
		var got struct {
			UserIdentity struct{ Type, PrincipalID, Arn, AccountID string }
		}
		if err := json.Unmarshal(Record{Principal: tc.arn}.AppendJSON(nil), &got); err != nil {
			t.Fatal(err)
		}
		if got.UserIdentity.Type != tc.typ || got.UserIdentity.PrincipalID != tc.principalID || got.UserIdentity.Arn != tc.arn {
			t.Errorf("%q: got %+v, want type %s principalId %s", tc.arn, got.UserIdentity, tc.typ, tc.principalID)
		}
	}
}

var awkwardStrings = []string{
	"", "plain", `quote " and \ backslash`, "nl\nrt\rtab\t", "\x00\x01\x1f\x7f", "<html>&amp;",
	"é中𝄞", "bad \xff utf8 \xc3", "\u2028 \u2029", "\ufffd",
}

func TestRecordJSONEscapes(t *testing.T) {
	for _, s := range awkwardStrings {
		checkRoundTrip(t, s)
	}
}

// validUTF8 replaces each invalid byte of s with U+FFFD, as the encoder does.
func validUTF8(s string) string { return sanitize(s) }

func FuzzRecordJSON(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(checkRoundTrip)
}

// checkRoundTrip puts s in every string field of a Record and in its
// request parameters, and checks that the JSON is valid UTF-8 and decodes
// back to s (with invalid UTF-8 replaced).
func checkRoundTrip(t *testing.T, s string) {
	p := params(t, func(b *ObjectBuilder) {
		b.Name(s + "!")
		b.String(s)
		b.Name("encryptionContext")
		b.StringMap(map[string]string{s: s}, 0, func(v string) string { return v })
		b.Name("list")
		b.BeginArray()
		b.String(s)
		b.Float(1.5)
		b.End()
	})
	r := Record{Operation: s, Region: s, RequestID: s, EventID: s, Principal: s, AccessKeyID: s, SourceIP: s, UserAgent: s,
		KeyARN: s, Resources: []string{s}, RequestParameters: p, ErrorCode: s, ErrorMessage: s, Node: s, AccountID: s}
	line := r.AppendJSON(nil)
	if !utf8.Valid(line) || !json.Valid(line) {
		t.Fatalf("invalid JSON for %q: %s", s, line)
	}
	var got struct {
		EventName         string
		UserAgent         string
		ErrorMessage      string
		RequestParameters map[string]any
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	want := validUTF8(s)
	if got.EventName != want || got.UserAgent != want || got.ErrorMessage != want {
		t.Errorf("round trip of %q: got %q", s, got.EventName)
	}
	if got.RequestParameters[want+"!"] != want {
		t.Errorf("parameter round trip of %q: %v", s, got.RequestParameters)
	}
	if ec, _ := got.RequestParameters["encryptionContext"].(map[string]any); ec[want] != want {
		t.Errorf("encryption context round trip of %q: %v", s, got.RequestParameters)
	}
}

func TestObjectBuilder(t *testing.T) {
	for i, tc := range []struct {
		build func(b *ObjectBuilder)
		want  string
	}{
		{func(b *ObjectBuilder) {}, "null"},
		{func(b *ObjectBuilder) {
			b.Name("a")
			b.String("x")
			b.Name("b")
			b.Bool(true)
			b.Name("c")
			b.Int(-3)
		}, `{"a":"x","b":true,"c":-3}`},
		{func(b *ObjectBuilder) {
			b.Name("o")
			b.BeginObject()
			b.Name("l")
			b.BeginArray()
			b.BeginObject()
			b.Name("k")
			b.String("v")
			b.End()
			b.Int(1)
			b.End()
			b.End()
			b.Name("m")
			b.StringMap(map[string]string{"z": "1", "a": "2", "m": "3"}, 2, strings.ToUpper)
		}, `{"o":{"l":[{"k":"v"},1]},"m":{"A":"2","M":"3"}}`},
		{func(b *ObjectBuilder) { b.Name("f"); b.Float(0.25); b.Name("nan"); b.Float(nan()) }, `{"f":0.25,"nan":null}`},
		// Misuse gives null, never invalid JSON.
		{func(b *ObjectBuilder) { b.String("no name") }, "null"},
		{func(b *ObjectBuilder) { b.Name("a"); b.Name("b") }, "null"},
		{func(b *ObjectBuilder) { b.Name("a") }, "null"},
		{func(b *ObjectBuilder) { b.Name("a"); b.BeginObject() }, "null"},
		{func(b *ObjectBuilder) { b.Name("a"); b.Int(1); b.End() }, "null"},
		{func(b *ObjectBuilder) { b.Name("l"); b.BeginArray(); b.Name("x"); b.End() }, "null"},
	} {
		var b ObjectBuilder
		b.Reset()
		tc.build(&b)
		if got := b.Object().String(); got != tc.want {
			t.Errorf("%d: got %s, want %s", i, got, tc.want)
		}
	}
}

func nan() float64 { var z float64; return z / z }

func TestNewEventID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		id := NewEventID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("NewEventID = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestARNField(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/a:b"
	for i, want := range []string{"arn", "aws", "kms", "eu-west-1", "111122223333", "key/a:b"} {
		if got := arnField(arn, i); got != want {
			t.Errorf("arnField(%d) = %q, want %q", i, got, want)
		}
	}
	for _, bad := range []string{"", "alias/x", "arn:aws:kms:eu-west-1:111122223333", "arn:aws", "xarn:aws:kms:r:a:k"} {
		for i := range 6 {
			if got := arnField(bad, i); got != "" {
				t.Errorf("arnField(%q, %d) = %q, want \"\"", bad, i, got)
			}
		}
	}
}

func BenchmarkRecordAppendJSON(b *testing.B) {
	r := sampleRecord(1)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}

// BenchmarkChainSeal is the writer's cost per record: splice seq and prev
// into the encoded line and hash it.
func BenchmarkChainSeal(b *testing.B) {
	body := sampleRecord(1).appendBody(nil)
	out := make([]byte, 0, 4096)
	var c chain
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out = append(out[:0], body...)
		out = c.seal(out, 0)
	}
}
