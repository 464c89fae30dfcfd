package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kmsnode/kmsnode/api/wire"
)

// fakeNode answers CreateKey, RotateKeyOnDemand, DescribeKey and
// ListKeyRotations from memory. Every second call of an invocation ID is
// answered first with a 503 (so the client must retry with the same ID);
// rotations of keys in failRotate answer 400.
type fakeNode struct {
	mu         sync.Mutex
	keys       map[string]int // key ID → versions
	seen       map[string]int // invocation ID → attempts
	n          int
	failRotate map[string]bool
	throttle   bool
}

func newFakeNode() *fakeNode {
	return &fakeNode{keys: map[string]int{}, seen: map[string]int{}, failRotate: map[string]bool{}}
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		http.Error(w, `{"__type":"MissingAuthenticationTokenException"}`, http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	inv := r.Header.Get("Amz-Sdk-Invocation-Id")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[inv]++
	if f.throttle && f.seen[inv] == 1 {
		w.Header().Set("X-Amzn-Errortype", "DependencyTimeoutException")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"__type":"DependencyTimeoutException","message":"retry"}`))
		return
	}
	fail := func(typ string) {
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"__type":%q,"message":"nope"}`, typ)
	}
	var out any
	switch op {
	case "CreateKey":
		f.n++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", f.n)
		f.keys[id] = 1
		out = wire.CreateKeyResponse{KeyMetadata: &wire.KeyMetadata{KeyId: id, KeyState: "Enabled"}}
	case "RotateKeyOnDemand":
		var req wire.RotateKeyOnDemandRequest
		_ = json.Unmarshal(body, &req)
		if _, ok := f.keys[req.KeyId]; !ok || f.failRotate[req.KeyId] {
			fail("LimitExceededException")
			return
		}
		f.keys[req.KeyId]++
		out = wire.RotateKeyOnDemandResponse{KeyId: req.KeyId}
	case "DescribeKey":
		var req wire.DescribeKeyRequest
		_ = json.Unmarshal(body, &req)
		if _, ok := f.keys[req.KeyId]; !ok {
			fail("NotFoundException")
			return
		}
		out = wire.DescribeKeyResponse{KeyMetadata: &wire.KeyMetadata{KeyId: req.KeyId, KeyState: "Enabled", Enabled: true}}
	case "ListKeyRotations":
		var req wire.ListKeyRotationsRequest
		_ = json.Unmarshal(body, &req)
		resp := wire.ListKeyRotationsResponse{Rotations: []wire.RotationsListEntry{}}
		for range f.keys[req.KeyId] {
			resp.Rotations = append(resp.Rotations, wire.RotationsListEntry{KeyId: req.KeyId})
		}
		out = resp
	default:
		fail("UnknownOperationException")
		return
	}
	b, _ := json.Marshal(out)
	_, _ = w.Write(b)
}

func testEnv(k string) string {
	switch k {
	case "AWS_ACCESS_KEY_ID":
		return "AKIDTEST"
	case "AWS_SECRET_ACCESS_KEY":
		return "secret"
	}
	return ""
}

func TestFillRetriesAndCounts(t *testing.T) {
	fn := newFakeNode()
	fn.throttle = true
	srv := httptest.NewServer(fn)
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "fill.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--endpoint", srv.URL, "--keys", "20", "--versions", "3",
		"--concurrency", "4", "--progress", "0", "--json", out}, testEnv, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	var s summary
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.KeysCreated != 20 || s.KeysComplete != 20 || s.VersionsCreated != 60 || s.Writes != 60 || s.Failed != 0 {
		t.Errorf("summary %+v", s)
	}
	if s.Retries != 60 {
		t.Errorf("%d retries, want 60 (one per call)", s.Retries)
	}
	if len(fn.keys) != 20 {
		t.Errorf("the node holds %d keys, want 20 (a retry created a duplicate?)", len(fn.keys))
	}
	for id, v := range fn.keys {
		if v != 3 {
			t.Errorf("key %s has %d versions", id, v)
		}
	}
	for inv, n := range fn.seen {
		if n != 2 {
			t.Errorf("invocation %s sent %d times, want 2", inv, n)
		}
	}
	if s.LastKeyID == "" || fn.keys[s.LastKeyID] != 3 {
		t.Errorf("last key %q", s.LastKeyID)
	}

	// check: the last key with its 3 versions; a wrong count fails.
	stdout.Reset()
	if code := run(context.Background(), []string{"check", "--endpoint", srv.URL, "--key-id", s.LastKeyID, "--versions", "3"},
		testEnv, &stdout, &stderr); code != exitOK {
		t.Fatalf("check: exit %d: %s", code, &stderr)
	}
	if code := run(context.Background(), []string{"check", "--endpoint", srv.URL, "--key-id", s.LastKeyID, "--versions", "4"},
		testEnv, io.Discard, io.Discard); code != exitFailed {
		t.Errorf("check with a wrong version count: exit %d, want %d", code, exitFailed)
	}
}

func TestFillCountsFailures(t *testing.T) {
	fn := newFakeNode()
	fn.failRotate["00000000-0000-4000-8000-000000000002"] = true
	srv := httptest.NewServer(fn)
	defer srv.Close()
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"--endpoint", srv.URL, "--keys", "3", "--versions", "2",
		"--concurrency", "1", "--progress", "0"}, testEnv, &stdout, io.Discard)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	for _, want := range []string{"keys created      3 of 3 (2 with all 2 versions)", "failed calls      1",
		"RotateKeyOnDemand: HTTP 400 LimitExceededException"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, &stdout)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--versions", "27"}, {"--keys", "0"}, {"check"}, {"snapinfo"}} {
		if code := run(context.Background(), args, testEnv, io.Discard, io.Discard); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestSnapInfo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.bin")
	doc := snapshotMagic + `{"applied":7,"seal":{"root_check":"AA=="},"keys":[` +
		`{"id":"a","policy":"{\"x\":1}","materials":[{"version":1},{"version":2}]},` +
		`{"id":"b","policy":"p","materials":[{"version":1}]}],"aliases":[],` +
		`"requests":[{"id":"r1","at":1,"result":{}}]}` + "\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := readSnapInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Applied != 7 || info.Keys != 2 || info.Materials != 3 || info.Requests != 1 || info.Aliases != 0 ||
		info.Bytes != int64(len(doc)) || info.PolicyBytes != int64(len(`"{\"x\":1}"`)+len(`"p"`)) {
		t.Errorf("%+v", info)
	}
	if err := os.WriteFile(path, []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSnapInfo(path); err == nil {
		t.Error("a file without the magic line was accepted")
	}
}
