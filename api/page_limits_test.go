package api_test

import (
	"strconv"
	"strings"
	"testing"
)

// AWS documents page limits below the model's 1–1000 for some listings
// (ListAliases and ListGrants 1–100, ListResourceTags 1–50); larger values
// are refused, the largest allowed value works.
func TestDocumentedPageLimits(t *testing.T) {
	t.Parallel()
	n := start(t)
	id := newKeyID(t, n)
	cases := []struct {
		op, body string
		max      int
	}{
		{"ListAliases", `{"Limit":%d}`, 100},
		{"ListGrants", `{"KeyId":"` + id + `","Limit":%d}`, 100},
		{"ListResourceTags", `{"KeyId":"` + id + `","Limit":%d}`, 50},
	}
	for _, c := range cases {
		over := rawCall(t, n, c.op, []byte(strings.Replace(c.body, "%d", strconv.Itoa(c.max+1), 1)), rawOpts{})
		wantRawErr(t, over, 400, "ValidationException")
		ok := rawCall(t, n, c.op, []byte(strings.Replace(c.body, "%d", strconv.Itoa(c.max), 1)), rawOpts{})
		if ok.Status != 200 {
			t.Fatalf("%s Limit %d: %s", c.op, c.max, ok)
		}
	}
	// ListGrants takes a key ID or key ARN, not an alias.
	createAlias(t, n, "alias/grants", id)
	r := rawCall(t, n, "ListGrants", []byte(`{"KeyId":"alias/grants"}`), rawOpts{})
	wantRawErr(t, r, 400, "NotFoundException")
}
