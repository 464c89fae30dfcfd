//go:build docker

package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
)

// lease is the nodes' read lease Δ (the default): a node cut off from the
// leader must stop serving crypto within it. The test counts from when the
// docker command that cuts returned (the cut takes effect somewhere within
// it); leaseSlack covers the request in flight and a loaded machine.
const (
	lease      = 2 * time.Second
	leaseSlack = time.Second
)

// TestComposeFaults brings up the two-region compose cluster (a project of
// its own, kmsnode-test, with its own state directory), drives both regions
// with the aws CLI, then in us-east-1, under a steady load through the
// region's load balancer: kills the leader, cuts a node off the region
// network, pauses a third, takes the majority away (a kill and a pause at
// once), and stops and starts the whole region. After each fault it checks what the
// cluster promises (README, "A region of several nodes") and at the end that
// every key and ciphertext the region acknowledged, before or during the
// faults, works on every node. eu-west-1 must not notice any of it.
func TestComposeFaults(t *testing.T) {
	c := setup(t)
	east, west := c.regions["us-east-1"], c.regions["eu-west-1"]
	var eastLedger, westLedger ledger

	// --- The aws CLI against each region.
	for _, rl := range []struct {
		r *region
		l *ledger
	}{{east, &eastLedger}, {west, &westLedger}} {
		awsCLIRoundTrip(t, rl.r, rl.l)
	}
	// The regions are separate key services: a key and a ciphertext of
	// one mean nothing to the other.
	eastKeys, eastCTs := eastLedger.snapshot()
	wc := west.client(west.lb, 1, 10*time.Second)
	if _, err := wc.DescribeKey(context.Background(), &awskms.DescribeKeyInput{KeyId: aws.String(eastKeys[0])}); errCode(err) != "NotFoundException" {
		t.Errorf("DescribeKey of a us-east-1 key in eu-west-1: %v; want NotFoundException", err)
	}
	if _, err := wc.Decrypt(context.Background(), &awskms.DecryptInput{CiphertextBlob: eastCTs[0].blob, EncryptionContext: eastCTs[0].ctx}); errCode(err) != "InvalidCiphertextException" {
		t.Errorf("Decrypt of a us-east-1 ciphertext in eu-west-1: %v; want InvalidCiphertextException", err)
	}

	ld := startLoad(east, &eastLedger, eastKeys[0])
	defer func() {
		select {
		case <-ld.stop:
		default:
			ld.finish()
		}
	}()
	faulted := map[string]bool{}

	// --- 1. docker kill the leader: the other two elect a new one, keep
	// serving crypto and take writes; the killed node comes back and
	// catches up.
	leader := waitLeader(t, east, nil)
	t.Logf("1. docker kill the leader %s", leader.name)
	killedAt := time.Now()
	c.docker("kill", leader.container)
	faulted[leader.name] = true
	survivors := others(east, leader)
	newLeader := waitLeader(t, east, leader)
	t.Logf("   %s leads after %v", newLeader.name, time.Since(killedAt).Round(10*time.Millisecond))
	during := checkServes(t, east, &eastLedger, survivors, "after the leader was killed")
	if code := east.probe(leader.endpoint, "/healthz"); code != 0 {
		t.Errorf("the killed node answered /healthz with %d", code)
	}
	startAt := time.Now()
	c.docker("start", leader.container)
	eventually(t, 90*time.Second, leader.name+" ready after docker start", func() bool { return east.probe(leader.endpoint, "/readyz") == 200 })
	t.Logf("   %s ready %v after docker start", leader.name, since(startAt))
	checkCaughtUp(t, east, leader, during)

	// --- 2. docker network disconnect a follower from the region
	// network: it refuses crypto once its lease has run out (a retryable
	// 503, /readyz fails, /healthz still answers) and cannot make a write
	// happen; the majority serves on; after reconnecting it catches up.
	cut := pick(t, east, faulted)
	faulted[cut.name] = true
	t.Logf("2. docker network disconnect %s %s", east.net, cut.name)
	direct := east.client(cut.endpoint, 1, 20*time.Second)
	cutAt := time.Now()
	c.docker("network", "disconnect", east.net, cut.container)
	cutDone := time.Now()
	lastOK, refused := untilRefused(t, &eastLedger, direct, eastKeys[0], cutDone)
	t.Logf("   %s served crypto until %v after docker network disconnect returned (it took %v), refuses (DependencyTimeoutException) from %v on (lease Δ %v)",
		cut.name, lastOK, cutDone.Sub(cutAt).Round(10*time.Millisecond), refused, lease)
	if lastOK > lease+leaseSlack {
		t.Errorf("%s served crypto %v after it was cut off; the lease is %v", cut.name, lastOK, lease)
	}
	if code := east.probe(cut.endpoint, "/readyz"); code != 503 {
		t.Errorf("/readyz of the cut-off node: %d; want 503", code)
	}
	if code := east.probe(cut.endpoint, "/healthz"); code != 200 {
		t.Errorf("/healthz of the cut-off node: %d; want 200 (alive)", code)
	}
	writeStart := time.Now()
	if k, err := eastLedger.createKey(direct, "through the cut-off node"); err == nil {
		t.Errorf("CreateKey through the cut-off node succeeded (%s) without a majority", k)
	} else {
		t.Logf("   CreateKey through %s fails after %v: %s", cut.name, time.Since(writeStart).Round(10*time.Millisecond), errCode(err))
	}
	during = checkServes(t, east, &eastLedger, others(east, cut), "with a node cut off")
	startAt = time.Now()
	c.docker("network", "connect", "--ip", cut.ip, east.net, cut.container)
	eventually(t, 60*time.Second, cut.name+" ready after reconnecting", func() bool { return east.probe(cut.endpoint, "/readyz") == 200 })
	t.Logf("   reconnected %v after the cut, ready %v after docker network connect", time.Since(cutAt).Round(time.Second), since(startAt))
	checkCaughtUp(t, east, cut, during)

	// --- 3. docker pause the third node: the other two serve; the load
	// balancer routes around it; after unpause it catches up.
	paused := pick(t, east, faulted)
	t.Logf("3. docker pause %s (the leader: %v)", paused.name, waitLeader(t, east, nil) == paused)
	c.docker("pause", paused.container)
	during = checkServes(t, east, &eastLedger, others(east, paused), "with a node paused")
	startAt = time.Now()
	c.docker("unpause", paused.container)
	eventually(t, 60*time.Second, paused.name+" ready after unpause", func() bool { return east.probe(paused.endpoint, "/readyz") == 200 })
	t.Logf("   %s ready %v after docker unpause", paused.name, since(startAt))
	checkCaughtUp(t, east, paused, during)

	// --- 4. No majority: kill one node and pause another. The last one
	// refuses writes and, once its lease is over, crypto; nothing that
	// failed is acknowledged. Then both come back.
	last := east.nodes[0]
	killed, frozen := east.nodes[1], east.nodes[2]
	t.Logf("4. docker kill %s and docker pause %s: %s alone", killed.name, frozen.name, last.name)
	c.docker("kill", killed.container)
	c.docker("pause", frozen.container) // the second fault takes the majority away
	lostAt := time.Now()
	alone := east.client(last.endpoint, 1, 30*time.Second)
	lastOK, refused = untilRefused(t, &eastLedger, alone, eastKeys[0], lostAt)
	t.Logf("   %s served crypto until %v after docker pause returned, refuses from %v on", last.name, lastOK, refused)
	if lastOK > lease+leaseSlack {
		t.Errorf("%s served crypto %v after it lost the majority; the lease is %v", last.name, lastOK, lease)
	}
	writeStart = time.Now()
	if k, err := eastLedger.createKey(alone, "without a majority"); err == nil {
		t.Errorf("CreateKey without a majority succeeded (%s)", k)
	} else {
		t.Logf("   CreateKey without a majority fails after %v: %s", time.Since(writeStart).Round(10*time.Millisecond), errCode(err))
	}
	if code := east.probe(last.endpoint, "/readyz"); code != 503 {
		t.Errorf("/readyz of the node without a majority: %d; want 503", code)
	}
	startAt = time.Now()
	c.docker("unpause", frozen.container)
	c.docker("start", killed.container)
	eventually(t, 90*time.Second, "every us-east-1 node ready again", func() bool { return allReady(east) })
	t.Logf("   every node ready %v after docker unpause and start", since(startAt))
	checkServes(t, east, &eastLedger, east.nodes, "after the majority came back")

	ld.finish()
	t.Logf("load through %s during the faults: %s", east.lb, ld.counts())

	// --- 5. Stop the whole region (SIGTERM), start it again from its
	// volumes, and check that everything acknowledged is there on every
	// node.
	t.Log("5. docker stop e1 e2 e3, then docker start e1 e2 e3")
	ids := []string{east.nodes[0].container, east.nodes[1].container, east.nodes[2].container}
	c.docker(append([]string{"stop", "-t", "30"}, ids...)...)
	for _, n := range east.nodes {
		if st := c.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", n.container); st != "exited 0" {
			t.Errorf("%s after SIGTERM: %s, want exited 0 (a clean shutdown)", n.name, st)
		}
	}
	startAt = time.Now()
	c.docker(append([]string{"start"}, ids...)...)
	eventually(t, 120*time.Second, "every us-east-1 node ready after the region restarted", func() bool { return allReady(east) })
	t.Logf("   every node ready %v after docker start", since(startAt))
	for _, n := range east.nodes {
		eastLedger.verify(t, east, n)
	}

	// eu-west-1 never noticed.
	for _, n := range west.nodes {
		if code := west.probe(n.endpoint, "/readyz"); code != 200 {
			t.Errorf("eu-west-1 %s: /readyz %d", n.name, code)
		}
		westLedger.verify(t, west, n)
	}
}

// setup brings the project up from nothing and tears it down at the end
// (KMS_COMPOSE_KEEP=1 keeps it for a look).
func setup(t *testing.T) *composeCluster {
	t.Helper()
	if _, err := cmd(context.Background(), nil, "docker", "info"); err != nil {
		t.Skip("SKIPPED: no Docker engine answers (docker info failed)")
	}
	for _, tool := range []string{"aws", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed", tool)
		}
	}
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	c := &composeCluster{
		t:       t,
		project: "kmsnode-test",
		state:   filepath.Join(here, "compose", ".state-test"),
		script:  filepath.Join(here, "compose", "compose.sh"),
		file:    filepath.Join(here, "compose", "docker-compose.yml"),
		image:   os.Getenv("KMSNODE_IMAGE"),
	}
	if c.image == "" {
		c.image = "kmsnode:latest"
	}
	if _, err := cmd(context.Background(), nil, "docker", "image", "inspect", c.image); err != nil {
		t.Fatalf("no image %s: run make image (make test-docker does)", c.image)
	}
	if _, err := cmd(context.Background(), nil, "docker", "compose", "version"); err == nil {
		c.compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		c.compose = []string{"docker-compose"}
	} else {
		t.Fatal("neither docker compose nor docker-compose is installed")
	}
	// The project publishes the same ports and uses the same subnets as
	// the one of `make compose-up`: they cannot run together.
	if out, _ := cmd(context.Background(), nil, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project=kmsnode"); strings.TrimSpace(out) != "" {
		t.Fatal("the cluster of make compose-up is running and uses the same ports and subnets: run make compose-down first")
	}
	if err := c.run("down", "--purge"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"e1", "e2", "e3", "lb-us-east-1"} {
				if out, err := c.dc("logs", "--no-color", "--tail", "30", n); err == nil {
					t.Log(redact(out))
				}
			}
		}
		if os.Getenv("KMS_COMPOSE_KEEP") != "" {
			t.Logf("KMS_COMPOSE_KEEP is set: project %s left running (compose.sh down --purge with KMS_COMPOSE_PROJECT=%s KMS_COMPOSE_STATE=%s)", c.project, c.project, c.state)
			return
		}
		if err := c.run("down", "--purge"); err != nil {
			t.Error(err)
		}
	})
	start := time.Now()
	if err := c.run("up"); err != nil {
		t.Fatal(err)
	}
	t.Logf("compose up: 2 regions × 3 nodes ready after %v", time.Since(start).Round(100*time.Millisecond))
	c.discover()
	return c
}

// redact drops the root secret from logs shown on failure: the node prints
// it once, and a test log is no place to keep it.
func redact(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "AWS_SECRET_ACCESS_KEY=") {
			l = l[:strings.Index(l, "AWS_SECRET_ACCESS_KEY=")] + "AWS_SECRET_ACCESS_KEY=<redacted>"
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// awsCLIRoundTrip creates a key through the region's load balancer with the
// aws CLI, encrypts through one node, decrypts through another, and records
// both for the final check.
func awsCLIRoundTrip(t *testing.T, r *region, l *ledger) {
	t.Helper()
	dir := t.TempDir()
	awsCLI := func(endpoint string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		env := []string{"AWS_ACCESS_KEY_ID=" + r.creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + r.creds.SecretAccessKey,
			"AWS_DEFAULT_REGION=" + r.name, "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_CA_BUNDLE=",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
		out, err := cmd(ctx, env, "aws", append([]string{"--endpoint-url", endpoint, "--ca-bundle", r.ca, "kms"}, args...)...)
		if err != nil {
			t.Fatalf("aws CLI: %v", err)
		}
		return strings.TrimSpace(out)
	}
	key := awsCLI(r.lb, "create-key", "--description", "aws CLI "+r.name, "--query", "KeyMetadata.KeyId", "--output", "text")
	l.addKey(key)
	plain := []byte("kmsnode compose test, aws CLI, " + r.name)
	pf := filepath.Join(dir, "plain")
	if err := os.WriteFile(pf, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := awsCLI(r.nodes[0].endpoint, "encrypt", "--key-id", key, "--plaintext", "fileb://"+pf,
		"--encryption-context", "test=cli", "--query", "CiphertextBlob", "--output", "text")
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("aws kms encrypt printed %q: %v", b64, err)
	}
	cf := filepath.Join(dir, "blob")
	if err := os.WriteFile(cf, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	got := awsCLI(r.nodes[2].endpoint, "decrypt", "--ciphertext-blob", "fileb://"+cf,
		"--encryption-context", "test=cli", "--query", "Plaintext", "--output", "text")
	if dec, err := base64.StdEncoding.DecodeString(got); err != nil || !bytes.Equal(dec, plain) {
		t.Fatalf("aws kms decrypt through %s: %q, want the plaintext encrypted through %s", r.nodes[2].name, got, r.nodes[0].name)
	}
	l.addCT(sealed{key: key, plain: plain, blob: blob, ctx: map[string]string{"test": "cli"}})
	if list := awsCLI(r.nodes[1].endpoint, "list-keys", "--query", "Keys[].KeyId", "--output", "text"); !strings.Contains(list, key) {
		t.Errorf("aws kms list-keys through %s lacks %s: %s", r.nodes[1].name, key, list)
	}
	t.Logf("aws CLI, %s: create-key through the load balancer, encrypt through %s, decrypt through %s, list-keys through %s: ok",
		r.name, r.nodes[0].name, r.nodes[2].name, r.nodes[1].name)
}

// untilRefused sends Encrypt calls to a node that has lost its leader
// (cut off, or without a majority) until it has refused five in a row, each
// with the retryable DependencyTimeoutException and nothing else, and
// returns how long after since the last served call ended and the first
// refused one began. Served calls are acknowledged ciphertexts: they are
// recorded and must decrypt at the end.
func untilRefused(t *testing.T, l *ledger, c *awskms.Client, key string, since time.Time) (lastOK, firstRefused time.Duration) {
	t.Helper()
	deadline := time.Now().Add(lease + leaseSlack + 10*time.Second)
	streak := 0
	for streak < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the node still serves crypto %v after losing its leader", time.Since(since))
		}
		start := time.Now()
		err := l.encrypt(c, key, "lease")
		switch {
		case err == nil:
			lastOK, streak = time.Since(since), 0
		case errCode(err) != "DependencyTimeoutException":
			t.Fatalf("a node without its leader answered %v; want DependencyTimeoutException", err)
		default:
			if streak == 0 {
				firstRefused = start.Sub(since)
			}
			streak++
		}
		time.Sleep(50 * time.Millisecond) // pacing of the probe
	}
	return lastOK.Round(10 * time.Millisecond), firstRefused.Round(10 * time.Millisecond)
}

// waitLeader waits until the running nodes agree on a leader other than
// not, and returns it.
func waitLeader(t *testing.T, r *region, not *cnode) *cnode {
	t.Helper()
	var leader *cnode
	eventually(t, 30*time.Second, "a leader in "+r.name, func() bool {
		for _, n := range r.nodes {
			if n == not {
				continue
			}
			if id := r.leader(n); id != "" && (not == nil || id != not.name) {
				leader = r.node(id)
				return leader != nil
			}
		}
		return false
	})
	return leader
}

func others(r *region, not *cnode) []*cnode {
	var out []*cnode
	for _, n := range r.nodes {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

// pick returns a follower not faulted yet.
func pick(t *testing.T, r *region, faulted map[string]bool) *cnode {
	t.Helper()
	leader := waitLeader(t, r, nil)
	for _, n := range r.nodes {
		if n != leader && !faulted[n.name] {
			return n
		}
	}
	for _, n := range r.nodes {
		if !faulted[n.name] {
			return n
		}
	}
	t.Fatal("no node left to fault")
	return nil
}

func allReady(r *region) bool {
	for _, n := range r.nodes {
		if r.probe(n.endpoint, "/readyz") != 200 {
			return false
		}
	}
	return true
}

// checkServes checks that the given nodes take a write (after an election,
// if one is due) and serve crypto, each, and returns the key it created.
func checkServes(t *testing.T, r *region, l *ledger, nodes []*cnode, when string) string {
	t.Helper()
	var key string
	var err error
	took := eventually(t, 40*time.Second, "a write through "+nodes[0].name+" "+when, func() bool {
		// A short timeout: a write forwarded to a leader that has just
		// frozen waits for it, and the next try goes to the new one.
		key, err = l.createKey(r.client(nodes[0].endpoint, 1, 3*time.Second), when)
		return err == nil
	})
	for _, n := range nodes {
		c := r.client(n.endpoint, 1, 15*time.Second)
		eventually(t, 10*time.Second, "crypto on "+n.name+" "+when, func() bool { return l.encrypt(c, key, when) == nil })
	}
	t.Logf("   %s: CreateKey through %s ok (after %v), Encrypt on %s ok", when, nodes[0].name, took, names(nodes))
	return key
}

// checkCaughtUp checks that a node back from a fault serves a key created
// while it was away.
func checkCaughtUp(t *testing.T, r *region, n *cnode, key string) {
	t.Helper()
	c := r.client(n.endpoint, 1, 15*time.Second)
	if _, err := c.DescribeKey(context.Background(), &awskms.DescribeKeyInput{KeyId: aws.String(key)}); err != nil {
		t.Errorf("%s back: DescribeKey of %s, created while it was away: %v", n.name, key, err)
	}
	if _, err := c.Encrypt(context.Background(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")}); err != nil {
		t.Errorf("%s back: Encrypt under %s: %v", n.name, key, err)
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(10 * time.Millisecond) }

func names(ns []*cnode) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.name)
	}
	return strings.Join(s, ", ")
}
