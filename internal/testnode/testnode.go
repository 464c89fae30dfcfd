package testnode

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/kmsnode/kmsnode/kms"
	"github.com/kmsnode/kmsnode/node"
)

// Node is a running node plus what a test needs to talk to it.
type Node struct {
	*node.Node
	T      testing.TB
	Config node.Config
	// Client is an AWS SDK KMS client for the node's endpoint, signed with
	// the development identity.
	Client *awskms.Client
}

// Option changes the configuration before the node starts.
type Option func(*node.Config)

// WithDataDir reuses a data directory (restart tests).
func WithDataDir(dir string) Option { return func(c *node.Config) { c.DataDir = dir } }

// WithClock injects the clock of key dates and schedulers.
func WithClock(clk kms.Clock) Option { return func(c *node.Config) { c.Clock = clk } }

// Start starts a node with fast test timings and closes it at test end.
func Start(t testing.TB, opts ...Option) *Node {
	t.Helper()
	cfg := node.DefaultConfig(t.TempDir())
	cfg.APIAddr = "127.0.0.1:0"
	cfg.RaftHeartbeatTimeout = 100 * time.Millisecond
	cfg.RaftElectionTimeout = 100 * time.Millisecond
	cfg.Lease = 500 * time.Millisecond
	cfg.SchedulerInterval = 20 * time.Millisecond
	cfg.StartTimeout = 30 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	tn := &Node{Node: n, T: t, Config: cfg}
	tn.Client = NewClient(n.URL(), cfg.Region, node.DevAccessKeyID, node.DevSecretAccessKey)
	t.Cleanup(func() { _ = n.Close() })
	return tn
}

// NewClient returns an SDK client for endpoint with static credentials and
// SDK retries off, so each call in a test is exactly one request.
func NewClient(endpoint, region, akid, secret string) *awskms.Client {
	return awskms.New(awskms.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(akid, secret, ""),
		// Its own connection pool: a test that restarts a node makes a new
		// client, which must not pick up a kept-alive connection to the
		// process that is gone (a POST is not retried on one).
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()},
		Retryer:    aws.NopRetryer{},
	})
}

// Eventually polls cond every 10ms until it returns true or the deadline
// (the test's own, capped at max) passes, then fails the test with msg.
func Eventually(t testing.TB, max time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := tt.Deadline(); ok && d.Before(deadline) {
			deadline = d.Add(-time.Second)
		}
	}
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", msg)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// Ctx returns a context bounded by 30 seconds for one test call.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
