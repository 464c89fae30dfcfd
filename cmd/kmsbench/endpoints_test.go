package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kmsnode/kmsnode/api/wire"
)

func TestParseEndpoints(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cret"}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		flag string
		want []string // nil: an error
	}{
		{"http://127.0.0.1:8080", []string{"http://127.0.0.1:8080"}},
		{"http://127.0.0.1:8080/", []string{"http://127.0.0.1:8080"}},
		{"http://127.0.0.1:18081,http://127.0.0.1:18082/, https://localhost:18083",
			[]string{"http://127.0.0.1:18081", "http://127.0.0.1:18082", "https://localhost:18083"}},
		{"", nil},
		{"http://a:1,", nil},
		{",http://a:1", nil},
		{"http://a:1,,http://b:2", nil},
		{"http://a:1,http://a:1/", nil}, // the same node twice
		{"http://a:1,127.0.0.1:2", nil}, // no scheme
		{"http://a:1/path", nil},
		{"http://a:1?x=1", nil},
	} {
		c, err := parseFlags([]string{"--endpoint", tc.flag}, getenv, discard{})
		if tc.want == nil {
			if err == nil {
				t.Errorf("--endpoint %q accepted: %v", tc.flag, c.Endpoints)
			}
			continue
		}
		if err != nil {
			t.Errorf("--endpoint %q: %v", tc.flag, err)
			continue
		}
		if !slices.Equal(c.Endpoints, tc.want) || c.Endpoint != strings.Join(tc.want, ",") {
			t.Errorf("--endpoint %q: %q / %q, want %q", tc.flag, c.Endpoints, c.Endpoint, tc.want)
		}
	}
	// The environment gives a list too; the baseline is one endpoint.
	env["KMSNODE_ENDPOINT"] = "http://a:1,http://b:2"
	c, err := parseFlags(nil, getenv, discard{})
	if err != nil || !slices.Equal(c.Endpoints, []string{"http://a:1", "http://b:2"}) {
		t.Errorf("KMSNODE_ENDPOINT list: %v, %v", c, err)
	}
	if _, err := parseFlags([]string{"--baseline-endpoint", "http://a:1,http://b:2"}, getenv, discard{}); err == nil {
		t.Error("a list was accepted as --baseline-endpoint")
	}
}

func TestWorkersSpreadRoundRobin(t *testing.T) {
	tg := newTarget("kmsnode", []string{"http://a:1", "http://b:2", "http://c:3"}, false)
	var got []string
	for i := range 7 {
		got = append(got, tg.urlFor(i))
	}
	want := []string{"http://a:1/", "http://b:2/", "http://c:3/", "http://a:1/", "http://b:2/", "http://c:3/", "http://a:1/"}
	if !slices.Equal(got, want) {
		t.Errorf("urlFor(0..6) = %q, want %q", got, want)
	}
	one := newTarget("kmsnode", []string{"http://a:1"}, false)
	if one.urlFor(0) != "http://a:1/" || one.urlFor(5) != "http://a:1/" {
		t.Errorf("one endpoint: %q %q", one.urlFor(0), one.urlFor(5))
	}
}

// fakeRegion is n httptest servers that answer like the nodes of a region
// (one key; Decrypt gives back what Encrypt was given) and record the
// operations each received and from how many connections.
type fakeRegion struct {
	mu        sync.Mutex
	plaintext []byte
	ops       []map[string]int // per server: X-Amz-Target → count
	conns     []map[string]bool
	servers   []*httptest.Server
}

func newFakeRegion(t *testing.T, n int) *fakeRegion {
	f := &fakeRegion{}
	for i := range n {
		f.ops = append(f.ops, map[string]int{})
		f.conns = append(f.conns, map[string]bool{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
			var out any = struct{}{}
			f.mu.Lock()
			f.ops[i][op]++
			f.conns[i][r.RemoteAddr] = true
			switch op {
			case "CreateKey":
				out = wire.CreateKeyResponse{KeyMetadata: &wire.KeyMetadata{KeyId: "k-1"}}
			case "Encrypt":
				var req wire.EncryptRequest
				_ = json.NewDecoder(r.Body).Decode(&req)
				f.plaintext = req.Plaintext
				out = wire.EncryptResponse{KeyId: "k-1", CiphertextBlob: []byte("ciphertext")}
			case "Decrypt":
				out = wire.DecryptResponse{KeyId: "k-1", Plaintext: f.plaintext}
			}
			f.mu.Unlock()
			w.Header().Set("Content-Type", contentType)
			_ = json.NewEncoder(w).Encode(out)
		}))
		t.Cleanup(srv.Close)
		f.servers = append(f.servers, srv)
	}
	return f
}

func (f *fakeRegion) endpoints() []string {
	var out []string
	for _, s := range f.servers {
		out = append(out, s.URL)
	}
	return out
}

func TestSetupAndLoadOverEndpoints(t *testing.T) {
	f := newFakeRegion(t, 3)
	tg := newTarget("kmsnode", f.endpoints(), false)
	c := newClient(aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, "us-east-1", 8, 5*time.Second)
	defer c.tr.CloseIdleConnections()
	ctx := context.Background()

	fix, err := setup(ctx, c, tg)
	if err != nil {
		t.Fatal(err)
	}
	if fix.KeyID != "k-1" || string(fix.ciphertext) != "ciphertext" {
		t.Errorf("fixture %+v", fix)
	}
	// The key is created through the first endpoint; every endpoint then
	// decrypts under it.
	want := []map[string]int{{"CreateKey": 1, "Encrypt": 1, "Decrypt": 1}, {"Decrypt": 1}, {"Decrypt": 1}}
	for i := range want {
		if !maps.Equal(f.ops[i], want[i]) {
			t.Errorf("setup: endpoint %d got %v, want %v", i, f.ops[i], want[i])
		}
		clear(f.ops[i])
		clear(f.conns[i])
	}

	// Four workers over three endpoints: endpoint 0 gets workers 0 and 3,
	// the others one each — about one keep-alive connection per worker.
	op, _ := lookupOp("Encrypt32")
	req, err := op.prepare(fix)
	if err != nil {
		t.Fatal(err)
	}
	st := runLoad(ctx, c, loadSpec{Target: tg, Request: req, Concurrency: 4, Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond})
	if st.Errors.total() != 0 || len(st.Latencies) == 0 {
		t.Fatalf("run: %d ok, errors %v", len(st.Latencies), st.Errors.sorted())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, wantConns := range []int{2, 1, 1} {
		if f.ops[i]["Encrypt"] == 0 || len(f.ops[i]) != 1 {
			t.Errorf("endpoint %d got %v", i, f.ops[i])
		}
		// One keep-alive connection per worker, give or take: http.Transport
		// returns a connection to its idle pool just after the body is
		// read, so a worker quick to send again may dial a second one
		// (seen under -race in CI). Fewer than one per worker would mean
		// workers shared a connection; many more, no keep-alive.
		if n := len(f.conns[i]); n < wantConns || n > 2*wantConns+1 {
			t.Errorf("endpoint %d: %d connections for %d requests, want about %d (one per worker)", i, n, f.ops[i]["Encrypt"], wantConns)
		}
	}
}

// A node that does not know the key fails setup, naming the node.
func TestSetupFailsOnANodeWithoutTheKey(t *testing.T) {
	f := newFakeRegion(t, 2)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-ErrorType", "NotFoundException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"NotFoundException","message":"Key 'k-1' does not exist"}`))
	}))
	defer bad.Close()
	tg := newTarget("kmsnode", append(f.endpoints(), bad.URL), false)
	c := newClient(aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}, "us-east-1", 1, 5*time.Second)
	defer c.tr.CloseIdleConnections()
	_, err := setup(context.Background(), c, tg)
	if err == nil || !strings.Contains(err.Error(), bad.URL) || !strings.Contains(err.Error(), "NotFoundException") {
		t.Errorf("setup with a node that lacks the key: %v", err)
	}
}
