package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeNode answers like api.Server: exact-path routing, text bodies.
type fakeNode struct {
	health, ready int    // status codes
	readyBody     string // body of a failing /readyz
	mu            sync.Mutex
	paths         []string
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	n.paths = append(n.paths, r.URL.Path)
	n.mu.Unlock()
	switch r.URL.Path {
	case "/healthz":
		w.WriteHeader(n.health)
		io.WriteString(w, "ok\n")
	case "/readyz":
		if n.ready != http.StatusOK {
			w.WriteHeader(n.ready)
			io.WriteString(w, n.readyBody)
			return
		}
		io.WriteString(w, "ready\n")
	default:
		http.Error(w, "unknown operation", http.StatusBadRequest)
	}
}

func (n *fakeNode) seen() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.paths...)
}

func serve(t *testing.T, n *fakeNode) string {
	t.Helper()
	s := httptest.NewServer(n)
	t.Cleanup(s.Close)
	return s.URL
}

// unreachable is the URL of a server that has gone away (connection refused).
func unreachable(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close()
	return url
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestStatusReady(t *testing.T) {
	t.Parallel()
	n := &fakeNode{health: 200, ready: 200}
	url := serve(t, n)
	code, out, errOut := runCLI("status", "--endpoint", url)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"endpoint  " + url + "\n", "alive     true\n", "ready     true\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "detail") || errOut != "" {
		t.Errorf("unexpected detail or stderr; stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	if got := strings.Join(n.seen(), ","); got != "/healthz,/readyz" {
		t.Errorf("requests = %s, want /healthz,/readyz", got)
	}
}

func TestStatusNotReady(t *testing.T) {
	t.Parallel()
	url := serve(t, &fakeNode{health: 200, ready: 503, readyBody: "not ready: cluster: no read lease\n"})
	code, out, errOut := runCLI("status", "--endpoint", url)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"alive     true\n", "ready     false\n", "detail    not ready: cluster: no read lease\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "not ready") {
		t.Errorf("stderr = %q, want it to say the node is not ready", errOut)
	}
}

func TestStatusNotAlive(t *testing.T) {
	t.Parallel()
	n := &fakeNode{health: 500, ready: 200}
	url := serve(t, n)
	code, out, _ := runCLI("status", "--endpoint", url)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "alive     false\n") || !strings.Contains(out, "ready     false\n") {
		t.Errorf("stdout:\n%s\nwant alive false, ready false", out)
	}
	if !strings.Contains(out, "500") {
		t.Errorf("stdout:\n%s\nwant the failing status in the detail", out)
	}
	if got := strings.Join(n.seen(), ","); got != "/healthz" {
		t.Errorf("requests = %s, want only /healthz (no readiness probe of a dead node)", got)
	}
}

func TestStatusUnreachable(t *testing.T) {
	t.Parallel()
	url := unreachable(t)
	code, out, errOut := runCLI("status", "--endpoint", url)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "alive     false\n") {
		t.Errorf("stdout:\n%s\nwant alive false", out)
	}
	if !strings.Contains(out, "detail    ") || !strings.Contains(out, url) {
		t.Errorf("stdout:\n%s\nwant a detail naming %s", out, url)
	}
	if !strings.Contains(errOut, "kmsctl:") {
		t.Errorf("stderr = %q, want a kmsctl error", errOut)
	}
}

func decodeStatus(t *testing.T, out string) nodeStatus {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var st nodeStatus
	if err := dec.Decode(&st); err != nil {
		t.Fatalf("stdout is not a status JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("stdout has more than one JSON value:\n%s", out)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("stdout is not valid JSON: %v", err)
	}
	for _, k := range []string{"endpoint", "alive", "ready"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out)
		}
	}
	return st
}

func TestStatusJSON(t *testing.T) {
	t.Parallel()
	t.Run("ready", func(t *testing.T) {
		t.Parallel()
		url := serve(t, &fakeNode{health: 200, ready: 200})
		code, out, _ := runCLI("status", "--endpoint", url, "--json")
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		st := decodeStatus(t, out)
		if want := (nodeStatus{Endpoint: url, Alive: true, Ready: true}); st != want {
			t.Errorf("status = %+v, want %+v", st, want)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		t.Parallel()
		url := serve(t, &fakeNode{health: 200, ready: 503, readyBody: "not ready: sealed\n"})
		_, out, _ := runCLI("status", "--json", "--endpoint", url)
		st := decodeStatus(t, out)
		if want := (nodeStatus{Endpoint: url, Alive: true, Detail: "not ready: sealed"}); st != want {
			t.Errorf("status = %+v, want %+v", st, want)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		url := unreachable(t)
		_, out, _ := runCLI("status", "--json", "--endpoint", url)
		if st := decodeStatus(t, out); st.Alive || st.Ready || st.Detail == "" {
			t.Errorf("status = %+v, want not alive, not ready, with a detail", st)
		}
	})
}

// The exit status must not depend on the output format: scripts and probes
// that use --json need a failing status for a node that is not ready.
func TestStatusJSONExitCode(t *testing.T) {
	t.Parallel()
	url := serve(t, &fakeNode{health: 200, ready: 503, readyBody: "not ready\n"})
	if code, _, _ := runCLI("status", "--json", "--endpoint", url); code != 1 {
		t.Errorf("status --json on a node that is not ready: exit %d, want 1", code)
	}
	if code, _, _ := runCLI("status", "--json", "--endpoint", unreachable(t)); code != 1 {
		t.Errorf("status --json on an unreachable node: exit %d, want 1", code)
	}
}

// An endpoint written with a trailing slash must reach the same probes.
func TestStatusEndpointTrailingSlash(t *testing.T) {
	t.Parallel()
	url := serve(t, &fakeNode{health: 200, ready: 200})
	if code, out, _ := runCLI("status", "--endpoint", url+"/"); code != 0 {
		t.Errorf("exit %d, want 0:\n%s", code, out)
	}
}

func TestStatusEndpointFromEnv(t *testing.T) {
	url := serve(t, &fakeNode{health: 200, ready: 200})
	t.Setenv("KMSNODE_ENDPOINT", url)
	code, out, errOut := runCLI("status")
	if code != 0 || !strings.Contains(out, "endpoint  "+url+"\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 against %s", code, out, errOut, url)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout, stderr
	}{
		{"version", []string{"version"}, 0, "kmsctl " + version, ""},
		{"no command", nil, 2, "", "usage"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		// Any failure status; 2 (usage) would match the other usage errors.
		{"unknown flag", []string{"status", "--no-such-flag"}, -1, "", "no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCLI(tc.args...)
			if tc.code == -1 && code == 0 || tc.code != -1 && code != tc.code {
				t.Errorf("exit %d, want %d; stdout %q, stderr %q", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.err) {
				t.Errorf("stdout %q, stderr %q; want them to contain %q and %q", out, errOut, tc.out, tc.err)
			}
		})
	}
}
