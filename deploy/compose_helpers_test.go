//go:build docker

package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// composeCluster is the two-region compose project under test.
type composeCluster struct {
	t       *testing.T
	project string
	state   string // KMS_COMPOSE_STATE
	script  string // compose/compose.sh
	file    string // compose/docker-compose.yml
	image   string
	compose []string // docker compose | docker-compose
	regions map[string]*region
}

// region is one region of the project as the host sees it.
type region struct {
	name  string
	ca    string // region CA file
	pool  *x509.CertPool
	creds aws.Credentials // the account root's, captured by compose.sh
	lb    string          // load balancer endpoint
	net   string          // docker network of the region's cluster traffic
	nodes []*cnode
}

// cnode is one node's container.
type cnode struct {
	name      string // compose service (e1)
	container string // container ID
	ip        string // address on the region network (the advertised one)
	endpoint  string // https://127.0.0.1:PORT
	r         *region
}

var regionNodes = map[string][]string{"us-east-1": {"e1", "e2", "e3"}, "eu-west-1": {"w1", "w2", "w3"}}

// cmd runs a command and returns its combined output. env adds to the
// test's environment; an entry "NAME=" removes NAME.
func cmd(ctx context.Context, env []string, name string, args ...string) (string, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = os.Environ()
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		c.Env = slices.DeleteFunc(c.Env, func(x string) bool { return strings.HasPrefix(x, k+"=") })
		if v != "" {
			c.Env = append(c.Env, e)
		}
	}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), err
}

func (c *composeCluster) env() []string {
	return []string{"KMS_COMPOSE_PROJECT=" + c.project, "KMS_COMPOSE_STATE=" + c.state, "KMSNODE_IMAGE=" + c.image}
}

// script runs compose.sh, streaming its output to the test log.
func (c *composeCluster) run(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := cmd(ctx, c.env(), "bash", append([]string{c.script}, args...)...)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(l, "AWS_SECRET_ACCESS_KEY") { // the captured root secret stays in its file
			c.t.Log("compose.sh: " + l)
		}
	}
	return err
}

// dc runs docker compose on the project.
func (c *composeCluster) dc(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append(append(c.compose[1:], "-p", c.project, "-f", c.file), args...)
	return cmd(ctx, c.env(), c.compose[0], full...)
}

// docker runs one docker command and fails the test if it fails.
func (c *composeCluster) docker(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := cmd(ctx, nil, "docker", args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// discover fills in the regions from the running containers and the state
// directory.
func (c *composeCluster) discover() {
	t := c.t
	t.Helper()
	c.regions = map[string]*region{}
	for name, nodes := range regionNodes {
		r := &region{name: name, ca: filepath.Join(c.state, name, "ca", "ca.pem")}
		pem, err := os.ReadFile(r.ca)
		if err != nil {
			t.Fatal(err)
		}
		r.pool = x509.NewCertPool()
		if !r.pool.AppendCertsFromPEM(pem) {
			t.Fatalf("%s: no certificate", r.ca)
		}
		r.creds = readRootEnv(t, filepath.Join(c.state, name, "root.env"))
		lbID := c.containerOf("lb-" + name)
		r.lb = "https://" + c.docker("port", lbID, "8443/tcp")
		for _, n := range nodes {
			id := c.containerOf(n)
			nd := &cnode{name: n, container: id, r: r, endpoint: "https://" + firstLine(c.docker("port", id, "8443/tcp"))}
			var nets map[string]struct{ IPAddress string }
			if err := json.Unmarshal([]byte(c.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", id)), &nets); err != nil {
				t.Fatal(err)
			}
			for netName, s := range nets {
				if strings.HasSuffix(netName, "_"+name) {
					r.net, nd.ip = netName, s.IPAddress
				}
			}
			if nd.ip == "" {
				t.Fatalf("%s is not on the %s network: %v", n, name, nets)
			}
			r.nodes = append(r.nodes, nd)
		}
		c.regions[name] = r
	}
}

func (c *composeCluster) containerOf(service string) string {
	c.t.Helper()
	out, err := c.dc("ps", "-q", service)
	if err != nil {
		c.t.Fatal(err)
	}
	id := firstLine(strings.TrimSpace(out))
	if id == "" {
		c.t.Fatalf("no container for %s", service)
	}
	return id
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}

// readRootEnv reads the export lines compose.sh saved.
func readRootEnv(t *testing.T, file string) aws.Credentials {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("root credentials: %v", err)
	}
	defer f.Close()
	var cr aws.Credentials
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		switch k {
		case "AWS_ACCESS_KEY_ID":
			cr.AccessKeyID = v
		case "AWS_SECRET_ACCESS_KEY":
			cr.SecretAccessKey = v
		}
	}
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
		t.Fatalf("%s holds no credentials", file)
	}
	return cr
}

func (r *region) transport() *http.Transport {
	return &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 8,
	}
}

// client is an SDK client of endpoint: attempts 1 sends each call once,
// more uses the SDK's standard retries (as an application would).
func (r *region) client(endpoint string, attempts int, timeout time.Duration) *awskms.Client {
	o := awskms.Options{
		Region:       r.name,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.StaticCredentialsProvider{Value: r.creds},
		HTTPClient:   &http.Client{Transport: r.transport(), Timeout: timeout},
	}
	if attempts <= 1 {
		o.Retryer = aws.NopRetryer{}
	} else {
		o.RetryMaxAttempts = attempts
	}
	return awskms.New(o)
}

// probe GETs a health endpoint of a node; the status code, 0 when it does
// not answer.
func (r *region) probe(endpoint, path string) int {
	c := &http.Client{Transport: r.transport(), Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	resp, err := c.Get(endpoint + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

type member struct {
	NodeID string `json:"node_id"`
	Leader bool   `json:"leader"`
}

// members calls the signed operator operation ListMembers on a node.
func (r *region) members(endpoint string) ([]member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body := []byte("{}")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "KmsNodeOperator.ListMembers")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, r.creds, req, hex.EncodeToString(sum[:]), "kms", r.name, time.Now()); err != nil {
		return nil, err
	}
	c := &http.Client{Transport: r.transport()}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ListMembers: %s: %s", resp.Status, b)
	}
	var out struct{ Members []member }
	return out.Members, json.Unmarshal(b, &out)
}

// leader asks node n which node leads; "" when none does.
func (r *region) leader(n *cnode) string {
	ms, err := r.members(n.endpoint)
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.Leader {
			return m.NodeID
		}
	}
	return ""
}

func (r *region) node(name string) *cnode {
	for _, n := range r.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// eventually polls cond until it holds or max passes, then fails the test.
// It returns how long it took.
func eventually(t *testing.T, max time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > max {
			t.Fatalf("after %v: %s", max, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	return time.Since(start).Round(10 * time.Millisecond)
}

// sealed is a ciphertext the region acknowledged.
type sealed struct {
	key   string
	plain []byte
	blob  []byte
	ctx   map[string]string
}

// ledger records everything a region acknowledged: keys and ciphertexts that
// must all work at the end.
type ledger struct {
	mu   sync.Mutex
	keys []string
	cts  []sealed
}

func (l *ledger) addKey(k string) {
	l.mu.Lock()
	l.keys = append(l.keys, k)
	l.mu.Unlock()
}

func (l *ledger) addCT(s sealed) {
	l.mu.Lock()
	l.cts = append(l.cts, s)
	l.mu.Unlock()
}

func (l *ledger) snapshot() ([]string, []sealed) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.keys...), append([]sealed(nil), l.cts...)
}

// createKey creates a key through c and records it when acknowledged.
func (l *ledger) createKey(c *awskms.Client, desc string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	out, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String(desc)})
	if err != nil {
		return "", err
	}
	l.addKey(*out.KeyMetadata.KeyId)
	return *out.KeyMetadata.KeyId, nil
}

// encrypt encrypts a fresh plaintext under key through c and records it.
func (l *ledger) encrypt(c *awskms.Client, key, tag string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	plain := []byte(fmt.Sprintf("kmsnode compose test %s %d", tag, time.Now().UnixNano()))
	ec := map[string]string{"test": tag}
	out, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: plain, EncryptionContext: ec})
	if err != nil {
		return err
	}
	l.addCT(sealed{key: key, plain: plain, blob: out.CiphertextBlob, ctx: ec})
	return nil
}

// verify checks through endpoint that every recorded key is listed and
// enabled and every recorded ciphertext decrypts to its plaintext.
func (l *ledger) verify(t *testing.T, r *region, n *cnode) {
	t.Helper()
	keys, cts := l.snapshot()
	c := r.client(n.endpoint, 3, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	listed := map[string]bool{}
	p := awskms.NewListKeysPaginator(c, &awskms.ListKeysInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("%s: ListKeys: %v", n.name, err)
		}
		for _, k := range page.Keys {
			listed[*k.KeyId] = true
		}
	}
	for _, k := range keys {
		if !listed[k] {
			t.Errorf("%s: acknowledged key %s is missing", n.name, k)
		}
	}
	jobs := make(chan sealed)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				out, err := c.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: s.blob, EncryptionContext: s.ctx})
				if err == nil && !bytes.Equal(out.Plaintext, s.plain) {
					err = errors.New("wrong plaintext")
				}
				if err == nil && !strings.HasSuffix(*out.KeyId, s.key) {
					err = fmt.Errorf("decrypted under %s, want %s", *out.KeyId, s.key)
				}
				if err != nil {
					mu.Lock()
					if bad++; bad <= 5 {
						t.Errorf("%s: acknowledged ciphertext under %s: %v", n.name, s.key, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range cts {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	if bad > 0 {
		t.Fatalf("%s: %d of %d acknowledged ciphertexts do not decrypt", n.name, bad, len(cts))
	}
	t.Logf("%s: all %d acknowledged keys listed, all %d acknowledged ciphertexts decrypt", n.name, len(keys), len(cts))
}

// load is a client application working through the region's load
// balancer with the SDK's standard retries during the faults: it encrypts
// about 20 times a second and creates a key every second, and records what
// was acknowledged.
type load struct {
	stop, done           chan struct{}
	mu                   sync.Mutex
	keysOK, keysFailed   int
	encryptOK, encFailed int
}

func startLoad(r *region, l *ledger, key string) *load {
	ld := &load{stop: make(chan struct{}), done: make(chan struct{})}
	c := r.client(r.lb, 5, 30*time.Second)
	go func() {
		defer close(ld.done)
		keys := []string{key}
		for i := 0; ; i++ {
			select {
			case <-ld.stop:
				return
			case <-time.After(50 * time.Millisecond): // pacing of the load
			}
			if i%20 == 0 {
				k, err := l.createKey(c, "load")
				ld.mu.Lock()
				if err != nil {
					ld.keysFailed++
				} else {
					ld.keysOK++
					keys = append(keys, k)
				}
				ld.mu.Unlock()
				continue
			}
			err := l.encrypt(c, keys[i%len(keys)], "load")
			ld.mu.Lock()
			if err != nil {
				ld.encFailed++
			} else {
				ld.encryptOK++
			}
			ld.mu.Unlock()
		}
	}()
	return ld
}

func (ld *load) counts() string {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return fmt.Sprintf("CreateKey %d ok / %d failed, Encrypt %d ok / %d failed", ld.keysOK, ld.keysFailed, ld.encryptOK, ld.encFailed)
}

func (ld *load) finish() {
	close(ld.stop)
	<-ld.done
}
