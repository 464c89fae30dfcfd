package main

// Helpers of the tests that run the real kmsnode binary: it is built once
// per test binary (into a temporary directory removed by TestMain; with
// -race when the tests run with -race, so the build cache is shared and the
// real process is race-checked too), started as `kmsnode dev` in a
// subprocess, and driven through what it prints.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/internal/testnode"
)

var (
	binDir    string
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kmsnode-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmsnode tests:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// raceBuild reports whether this test binary was built with -race.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// kmsnodeBinary builds ./cmd/kmsnode once and returns its path.
func kmsnodeBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		out := filepath.Join(binDir, "kmsnode")
		args := []string{"build", "-o", out}
		if raceBuild() {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
			return
		}
		binPath = out
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// proc is a kmsnode subprocess.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdout testnode.Buffer
	stderr testnode.Buffer
	done   chan struct{}
	state  *os.ProcessState
}

// runKmsnode starts the binary with args; the process is killed at test end
// if still running.
func runKmsnode(t testing.TB, args ...string) *proc {
	t.Helper()
	return runBinary(t, kmsnodeBinary(t), args...)
}

// runBinary is runKmsnode with another kmsnode binary (an older release).
func runBinary(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if strings.Contains(p.stderr.String(), "DATA RACE") {
			t.Errorf("kmsnode %s: the race detector fired:\n%s", strings.Join(args, " "), p.stderr.String())
		}
		if t.Failed() {
			t.Logf("kmsnode %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its wait status.
func (p *proc) wait(max time.Duration) syscall.WaitStatus {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(max):
		p.t.Fatalf("kmsnode did not exit within %v", max)
	}
	return p.state.Sys().(syscall.WaitStatus)
}

// signal sends sig and waits for the process to end.
func (p *proc) signal(sig syscall.Signal) syscall.WaitStatus {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	return p.wait(30 * time.Second)
}

// devNode is a running `kmsnode dev` and what its banner said.
type devNode struct {
	*proc
	Banner   string
	Endpoint string
	Region   string
	Account  string
	Data     string
	Vars     map[string]string // the AWS_* variables to export
	Paste    string            // the aws command line to paste
	Client   *awskms.Client    // SDK client made from the printed values
}

var (
	bannerField = regexp.MustCompile(`(?m)^\s+(endpoint|region|account|data):\s+(\S+)\s*$`)
	exportLine  = regexp.MustCompile(`(?m)^\s*export (AWS_[A-Z_]+)=(\S+)\s*$`)
	pasteLine   = regexp.MustCompile(`(?m)^\s*(aws --endpoint-url \S+ kms .*\S)\s*$`)
)

// startDev runs `kmsnode dev args…`, waits for its banner ("kmsnode is
// running" … "Stop with Ctrl-C") and parses it.
func startDev(t testing.TB, args ...string) *devNode {
	t.Helper()
	p := runKmsnode(t, append([]string{"dev"}, args...)...)
	testnode.Eventually(t, 60*time.Second, "kmsnode dev prints its banner", func() bool {
		if p.exited() {
			t.Fatalf("kmsnode dev exited before it was running (%v)\nstdout:\n%s\nstderr:\n%s", p.state, p.stdout.String(), p.stderr.String())
		}
		return strings.Contains(p.stdout.String(), "Stop with Ctrl-C")
	})
	d := &devNode{proc: p, Banner: p.stdout.String(), Vars: map[string]string{}}
	if !strings.Contains(d.Banner, "kmsnode is running.") {
		t.Fatalf("no 'kmsnode is running.' line in:\n%s", d.Banner)
	}
	for _, m := range bannerField.FindAllStringSubmatch(d.Banner, -1) {
		switch m[1] {
		case "endpoint":
			d.Endpoint = m[2]
		case "region":
			d.Region = m[2]
		case "account":
			d.Account = m[2]
		case "data":
			d.Data = m[2]
		}
	}
	for _, m := range exportLine.FindAllStringSubmatch(d.Banner, -1) {
		d.Vars[m[1]] = m[2]
	}
	if m := pasteLine.FindStringSubmatch(d.Banner); m != nil {
		d.Paste = m[1]
	}
	if d.Endpoint == "" || d.Vars["AWS_ACCESS_KEY_ID"] == "" || d.Vars["AWS_SECRET_ACCESS_KEY"] == "" || d.Vars["AWS_DEFAULT_REGION"] == "" {
		t.Fatalf("banner lacks the endpoint or a credential variable:\n%s", d.Banner)
	}
	d.Client = testnode.NewClient(d.Endpoint, d.Vars["AWS_DEFAULT_REGION"], d.Vars["AWS_ACCESS_KEY_ID"], d.Vars["AWS_SECRET_ACCESS_KEY"])
	return d
}

// ---- small SDK helpers (package main cannot share node_test's) ----

func ctx(t testing.TB) context.Context { return testnode.Ctx(t) }

func i32(v int32) *int32 { return &v }

func jsonOf(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// keyIDs lists the region's key IDs.
func keyIDs(t testing.TB, c *awskms.Client) []string {
	t.Helper()
	var ids []string
	in := &awskms.ListKeysInput{Limit: i32(1000)}
	for {
		out, err := c.ListKeys(ctx(t), in)
		mustOK(t, "ListKeys", err)
		for _, k := range out.Keys {
			ids = append(ids, aws.ToString(k.KeyId))
		}
		if !out.Truncated {
			return ids
		}
		in.Marker = out.NextMarker
	}
}

// view is the visible state of a region, as JSON, for before/after checks.
func view(t testing.TB, c *awskms.Client) string {
	t.Helper()
	type keyView struct {
		Metadata  any
		Tags      any
		Rotation  any
		Rotations any
		Aliases   any
		Policy    *string
	}
	v := map[string]keyView{}
	for _, id := range keyIDs(t, c) {
		var kv keyView
		d, err := c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
		mustOK(t, "DescribeKey", err)
		kv.Metadata = d.KeyMetadata
		tags, err := c.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &id})
		mustOK(t, "ListResourceTags", err)
		kv.Tags = tags.Tags
		if rs, err := c.GetKeyRotationStatus(ctx(t), &awskms.GetKeyRotationStatusInput{KeyId: &id}); err != nil {
			kv.Rotation = errCode(err)
		} else {
			kv.Rotation = []any{rs.KeyRotationEnabled, rs.RotationPeriodInDays, rs.NextRotationDate, rs.OnDemandRotationStartDate}
		}
		rot, err := c.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &id})
		mustOK(t, "ListKeyRotations", err)
		kv.Rotations = rot.Rotations
		as, err := c.ListAliases(ctx(t), &awskms.ListAliasesInput{KeyId: &id})
		mustOK(t, "ListAliases", err)
		kv.Aliases = as.Aliases
		p, err := c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("default")})
		mustOK(t, "GetKeyPolicy", err)
		kv.Policy = p.Policy
		v[id] = kv
	}
	return jsonOf(v)
}

// Shared assertions (internal/testnode).
var (
	mustOK  = testnode.MustOK
	errCode = testnode.ErrCode
	wantErr = testnode.WantErr
)
