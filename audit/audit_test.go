package audit

import (
	"context"
	"encoding/json"
	"reflect"
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

func TestRecordJSONShape(t *testing.T) {
	for i, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Time: time.Unix(0, 0), Operation: "ListKeys"},
			`{"eventVersion":"1.08","eventTime":"1970-01-01T00:00:00Z","eventSource":"kms.amazonaws.com","eventName":"ListKeys",` +
				`"awsRegion":"","requestID":"","eventType":"AwsApiCall","userIdentity":{},"sourceIPAddress":"","userAgent":"",` +
				`"requestParameters":null,"durationMs":0}`},
		{Record{Time: time.Unix(0, 0), Operation: "GenerateRandom", Principal: "arn:aws:iam::111122223333:root",
			KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", Resources: []string{"alias/x", "alias/x"}, Duration: 1500 * time.Millisecond},
			`{"eventVersion":"1.08","eventTime":"1970-01-01T00:00:00Z","eventSource":"kms.amazonaws.com","eventName":"GenerateRandom",` +
				`"awsRegion":"","requestID":"","eventType":"AwsApiCall","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},` +
				`"sourceIPAddress":"","userAgent":"","requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"},` +
				`"resources":[{"ARN":"alias/x"}],"durationMs":1500}`},
	} {
		if got := string(tc.r.AppendJSON(nil)); got != tc.want {
			t.Errorf("%d: got\n%s\nwant\n%s", i, got, tc.want)
		}
	}
	if got, err := json.Marshal(sampleRecord(1)); err != nil || string(got) != string(sampleRecord(1).AppendJSON(nil)) {
		t.Errorf("MarshalJSON = %s, %v", got, err)
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
func validUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func FuzzRecordJSON(f *testing.F) {
	for _, s := range awkwardStrings {
		f.Add(s)
	}
	f.Fuzz(checkRoundTrip)
}

// checkRoundTrip puts s in every string field of a Record and checks that the
// JSON is valid UTF-8 and decodes back to s (with invalid UTF-8 replaced).
func checkRoundTrip(t *testing.T, s string) {
	r := Record{Operation: s, Region: s, RequestID: s, Principal: s, AccessKeyID: s, SourceIP: s, UserAgent: s,
		KeyID: s, Resources: []string{s}, EncryptionContext: map[string]string{s: s}, ErrorCode: s, ErrorMessage: s, Node: s}
	line := r.AppendJSON(nil)
	if !utf8.Valid(line) || !json.Valid(line) {
		t.Fatalf("invalid JSON for %q: %s", s, line)
	}
	var got struct {
		EventName         string
		UserAgent         string
		ErrorMessage      string
		RequestParameters struct{ EncryptionContext map[string]string }
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	want := validUTF8(s)
	if got.EventName != want || got.UserAgent != want || got.ErrorMessage != want {
		t.Errorf("round trip of %q: got %q", s, got.EventName)
	}
	if s != "" && got.RequestParameters.EncryptionContext[want] != want {
		t.Errorf("encryption context round trip of %q: %v", s, got.RequestParameters.EncryptionContext)
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
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendJSON(buf[:0])
	}
}
