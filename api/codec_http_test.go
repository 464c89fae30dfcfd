package api_test

import (
	"net/http"
	"testing"
)

// The rules above hold through the real interface: a body that would mean
// two things is a SerializationException and changes nothing.
func TestDecodeRulesOverHTTP(t *testing.T) {
	n := start(t)
	id := newKeyID(t, n)
	before := snapshot(t, n)
	for _, body := range []string{
		`{"KeyId":"` + id + `","Description":"a","Description":"b"}`,
		`{"KeyId":"` + id + "\",\"Description\":\"\xfe\"}",
	} {
		r := rawCall(t, n, "UpdateKeyDescription", []byte(body), rawOpts{})
		wantRawErr(t, r, http.StatusBadRequest, "SerializationException")
	}
	sameState(t, n, before)
	// A member in another case is unknown, so KeyId is missing.
	r := rawCall(t, n, "DescribeKey", []byte(`{"keyid":"`+id+`"}`), rawOpts{})
	wantRawErr(t, r, http.StatusBadRequest, "ValidationException")
}
