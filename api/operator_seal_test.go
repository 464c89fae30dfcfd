package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/node"
)

// The seal operations at the protocol level: Unseal and SealStatus answer
// without a signature, also on a sealed node; the other seal operations
// need one; a sealed node answers every other operation with a retryable
// KMSInternalException that says it is sealed.

func sealTarget(op string) *string { s := "KmsNodeOperator." + op; return &s }

// sealedNode starts a shamir node, waits for its shares, restarts it sealed
// and returns it with the shares' base64 text.
func sealedNode(t testing.TB) (*testnode.Node, []string) {
	t.Helper()
	dir := t.TempDir()
	out := &testnode.Buffer{}
	opt := func(c *node.Config) {
		c.Seal = node.SealConfig{Provider: "shamir", Shares: 3, Threshold: 2, Output: out}
	}
	n := start(t, testnode.WithDataDir(dir), opt)
	var shares []string
	testnode.Eventually(t, 30*time.Second, "shares printed", func() bool {
		for _, m := range regexp.MustCompile(`Unseal share \d+: (\S+)`).FindAllStringSubmatch(out.String(), -1) {
			shares = append(shares, m[1])
		}
		return len(shares) == 3
	})
	testnode.Eventually(t, 30*time.Second, "node unsealed", func() bool { return !n.Sealed() })
	mustOK(t, "Close", n.Close())
	n = start(t, testnode.WithDataDir(dir), opt)
	if !n.Sealed() {
		t.Fatal("restarted unsealed")
	}
	return n, shares
}

func TestSealOperations_Protocol(t *testing.T) {
	n, shares := sealedNode(t)
	unsigned := rawOpts{noSign: true}

	// Unsigned SealStatus and Unseal work on a sealed node.
	o := unsigned
	o.target = sealTarget("SealStatus")
	r := rawCall(t, n, "", nil, o)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"Sealed":true`) {
		t.Fatalf("SealStatus: %s", r)
	}
	// Every other operation: refused as sealed, signed or not.
	for _, op := range []string{"Encrypt", "CreateKey", "ListKeys"} {
		msg := wantRawErr(t, rawCall(t, n, op, []byte(`{}`), rawOpts{}), 500, "KMSInternalException")
		if !strings.Contains(msg, "sealed") {
			t.Fatalf("%s on a sealed node: %q", op, msg)
		}
	}
	o = rawOpts{target: sealTarget("RekeyInit")}
	wantRawErr(t, rawCall(t, n, "", []byte(`{"Shares":3,"Threshold":2}`), o), 500, "KMSInternalException")

	o = unsigned
	o.target = sealTarget("Unseal")
	wantRawErr(t, rawCall(t, n, "", []byte(`{"Key":"!!"}`), o), 400, "SerializationException")
	wantRawErr(t, rawCall(t, n, "", []byte(`{"Key":"`+strings.Repeat("A", 8000)+`"}`), o), 400, "ValidationException")
	wantRawErr(t, rawCall(t, n, "", []byte(`{"Key":"AAAA"}`), o), 400, "ValidationException")
	for i, s := range shares[1:] {
		r = rawCall(t, n, "", []byte(`{"Key":"`+s+`"}`), o)
		want := []string{`"Sealed":true`, `"Sealed":false`}[i]
		if r.Status != 200 || !strings.Contains(string(r.Body), want) {
			t.Fatalf("Unseal share %d: %s", i+2, r)
		}
		// The answer never echoes the share.
		if bytes.Contains(r.Body, []byte(s)) {
			t.Fatalf("the Unseal answer carries the share: %s", r)
		}
	}
	if n.Sealed() {
		t.Fatal("still sealed")
	}
	// Unsealed: the signed seal operations need a signature.
	o = unsigned
	o.target = sealTarget("RotateKeyring")
	wantRawErr(t, rawCall(t, n, "", []byte(`{}`), o), 403, "MissingAuthenticationTokenException")
	o = rawOpts{target: sealTarget("RekeyInit")}
	r = rawCall(t, n, "", []byte(`{"Shares":3,"Threshold":2}`), o)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"Started":true`) {
		t.Fatalf("RekeyInit: %s", r)
	}
	var init struct{ Nonce string }
	mustOK(t, "decode RekeyInit", json.Unmarshal(r.Body, &init))
	o.target = sealTarget("RekeyUpdate")
	for i, s := range shares[:2] {
		r = rawCall(t, n, "", []byte(`{"Nonce":"`+init.Nonce+`","Key":"`+s+`"}`), o)
		if r.Status != 200 {
			t.Fatalf("RekeyUpdate %d: %s", i+1, r)
		}
	}
	var done struct {
		Complete bool
		Keys     []string
	}
	mustOK(t, "decode RekeyUpdate", json.Unmarshal(r.Body, &done))
	if !done.Complete || len(done.Keys) != 3 {
		t.Fatalf("rekey answer: %s", r)
	}
	for _, k := range done.Keys {
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 35 {
			t.Fatalf("new share %q: %d bytes, %v", k, len(b), err)
		}
	}
}

// FuzzSealOperations sends fuzzed bodies to the seal operations: unsigned to
// a sealed node (Unseal, SealStatus) and signed to an unsealed one (all but
// RotateKeyring, whose body is ignored and which adds a term per call).
// Whatever the body, the answer is a well-formed AWS JSON success or 4xx
// error and the node keeps serving. Run it with
//
//	go test -run '^$' -fuzz FuzzSealOperations -fuzztime 20s ./api/
func FuzzSealOperations(f *testing.F) {
	sealed, shares := sealedNode(f)
	open := start(f)
	targets := []string{"Unseal", "SealStatus", "RekeyInit", "RekeyUpdate", "RekeyStatus", "RekeyCancel", "RekeyKey"}
	seeds := []string{`{}`, `{"Key":"` + shares[0] + `"}`, `{"Key":"` + shares[1] + `","Reset":true}`, `{"Reset":true}`,
		`{"Shares":5,"Threshold":3}`, `{"Nonce":"n","Key":"AQIDBA=="}`, `{"NewKey":"` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + `"}`,
		`{"Provider":"env","NewKey":"AAAA"}`, `null`, `[]`, `{"Key":null}`, `{"Shares":-1,"Threshold":1e9}`, ``}
	for i := range targets {
		for _, s := range seeds {
			f.Add(byte(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, target byte, body []byte) {
		op := targets[int(target)%len(targets)]
		n, o := open, rawOpts{target: sealTarget(op)}
		if op == "Unseal" || op == "SealStatus" {
			n, o = sealed, rawOpts{noSign: true, target: sealTarget(op)}
		}
		r, err := rawDo(n, "", body, o)
		if err != nil {
			t.Fatalf("%s %q: no answer: %v", op, body, err)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
			t.Fatalf("%s %q: answer is not a JSON object: %s", op, body, r)
		}
		if r.Status == 200 {
			return
		}
		checkErrorShape(t, r)
		if r.Status != 400 || r.errType() == "KMSInternalException" {
			t.Fatalf("%s %q: %s", op, body, r)
		}
	})
}
