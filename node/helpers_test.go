package node_test

// Shared helpers of the node lifecycle tests (restart, sealing, scheduler):
// in-process nodes on a chosen data directory, typed AWS error assertions,
// ciphertext bookkeeping and a capture of a region's whole visible state.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsnode/kmsnode/internal/testnode"
	"github.com/kmsnode/kmsnode/kms"
	"github.com/kmsnode/kmsnode/node"
)

const (
	testRegion = "us-east-1"
	day        = 24 * time.Hour
)

func ctx(t testing.TB) context.Context { return testnode.Ctx(t) }

func i32(v int32) *int32 { return &v }

// manualClock starts at the current time (whole milliseconds, the FSM's
// resolution), so SigV4 times and key dates agree until a test moves it.
func manualClock() *kms.ManualClock {
	return kms.NewManualClock(time.Now().Truncate(time.Millisecond))
}

// testLease is the read lease of the nodes of these tests: longer than
// testnode's 500ms, so a CPU-starved run (-race, parallel tests, aws CLI
// subprocesses) does not lose the lease between renewals and fail a crypto
// call with DependencyTimeoutException. The lease is not what these tests
// are about.
const testLease = 2 * time.Second

// start starts a node like testnode.Start, with testLease.
func start(t testing.TB, opts ...testnode.Option) *testnode.Node {
	t.Helper()
	return testnode.Start(t, append([]testnode.Option{func(c *node.Config) { c.Lease = testLease }}, opts...)...)
}

// testConfig is the configuration testnode.Start uses, for the tests that
// call node.Start themselves to see its error.
func testConfig(dir string) node.Config {
	cfg := node.DefaultConfig(dir)
	cfg.APIAddr = "127.0.0.1:0"
	cfg.RaftHeartbeatTimeout = 100 * time.Millisecond
	cfg.RaftElectionTimeout = 100 * time.Millisecond
	cfg.Lease = testLease
	cfg.SchedulerInterval = 20 * time.Millisecond
	cfg.StartTimeout = 15 * time.Second
	return cfg
}

func newKey(t testing.TB, c *awskms.Client, in *awskms.CreateKeyInput) string {
	t.Helper()
	if in == nil {
		in = &awskms.CreateKeyInput{}
	}
	out, err := c.CreateKey(ctx(t), in)
	mustOK(t, "CreateKey", err)
	return *out.KeyMetadata.KeyId
}

func describe(t testing.TB, c *awskms.Client, id string) *types.KeyMetadata {
	t.Helper()
	out, err := c.DescribeKey(ctx(t), &awskms.DescribeKeyInput{KeyId: &id})
	mustOK(t, "DescribeKey "+id, err)
	return out.KeyMetadata
}

func createAlias(t testing.TB, c *awskms.Client, name, id string) {
	t.Helper()
	_, err := c.CreateAlias(ctx(t), &awskms.CreateAliasInput{AliasName: &name, TargetKeyId: &id})
	mustOK(t, "CreateAlias "+name, err)
}

func listRotations(t testing.TB, c *awskms.Client, id string) []types.RotationsListEntry {
	t.Helper()
	out, err := c.ListKeyRotations(ctx(t), &awskms.ListKeyRotationsInput{KeyId: &id})
	mustOK(t, "ListKeyRotations "+id, err)
	return out.Rotations
}

func rotationStatus(t testing.TB, c *awskms.Client, id string) *awskms.GetKeyRotationStatusOutput {
	t.Helper()
	out, err := c.GetKeyRotationStatus(ctx(t), &awskms.GetKeyRotationStatusInput{KeyId: &id})
	mustOK(t, "GetKeyRotationStatus "+id, err)
	return out
}

// allAliases lists every alias of the region, page by page.
func allAliases(t testing.TB, c *awskms.Client) []types.AliasListEntry {
	t.Helper()
	var all []types.AliasListEntry
	in := &awskms.ListAliasesInput{Limit: i32(2)}
	for {
		out, err := c.ListAliases(ctx(t), in)
		mustOK(t, "ListAliases", err)
		all = append(all, out.Aliases...)
		if !out.Truncated {
			return all
		}
		in.Marker = out.NextMarker
	}
}

// allKeys lists every key of the region, page by page.
func allKeys(t testing.TB, c *awskms.Client) []types.KeyListEntry {
	t.Helper()
	var all []types.KeyListEntry
	in := &awskms.ListKeysInput{Limit: i32(2)}
	for {
		out, err := c.ListKeys(ctx(t), in)
		mustOK(t, "ListKeys", err)
		all = append(all, out.Keys...)
		if !out.Truncated {
			return all
		}
		in.Marker = out.NextMarker
	}
}

func hasAlias(as []types.AliasListEntry, name string) bool {
	for _, a := range as {
		if aws.ToString(a.AliasName) == name {
			return true
		}
	}
	return false
}

func hasKey(ks []types.KeyListEntry, id string) bool {
	for _, k := range ks {
		if aws.ToString(k.KeyId) == id {
			return true
		}
	}
	return false
}

// blobVersion reads the material version of a v1 ciphertext blob (bytes
// 19..23, big-endian; crypto/blob.go).
func blobVersion(t testing.TB, blob []byte) uint32 {
	t.Helper()
	if len(blob) < 51 || blob[0] != 1 {
		t.Fatalf("not a v1 ciphertext blob: %x", blob)
	}
	return binary.BigEndian.Uint32(blob[19:23])
}

// sealed is a ciphertext a test made through the API and expects to decrypt
// to plaintext under context ec for as long as its key exists.
type sealed struct {
	what      string
	keyID     string
	blob      []byte
	plaintext []byte
	ec        map[string]string
}

func encrypt(t testing.TB, c *awskms.Client, what, keyRef, keyID string, ec map[string]string) sealed {
	t.Helper()
	pt := []byte(fmt.Sprintf("%s / %s / %d", what, keyID, time.Now().UnixNano()))
	out, err := c.Encrypt(ctx(t), &awskms.EncryptInput{KeyId: &keyRef, Plaintext: pt, EncryptionContext: ec})
	mustOK(t, "Encrypt "+what, err)
	return sealed{what: what, keyID: keyID, blob: out.CiphertextBlob, plaintext: pt, ec: ec}
}

// mustDecrypt decrypts s through the API and checks plaintext and key.
func mustDecrypt(t testing.TB, c *awskms.Client, s sealed) {
	t.Helper()
	out, err := c.Decrypt(ctx(t), &awskms.DecryptInput{CiphertextBlob: s.blob, EncryptionContext: s.ec})
	if err != nil {
		t.Fatalf("Decrypt %s (key %s, version %d): %v", s.what, s.keyID, blobVersion(t, s.blob), err)
	}
	if !bytes.Equal(out.Plaintext, s.plaintext) {
		t.Fatalf("Decrypt %s: plaintext %q, want %q", s.what, out.Plaintext, s.plaintext)
	}
	if !strings.HasSuffix(aws.ToString(out.KeyId), ":key/"+s.keyID) {
		t.Fatalf("Decrypt %s: KeyId %s, want the ARN of %s", s.what, aws.ToString(out.KeyId), s.keyID)
	}
}

// ---- the visible state of a region ----

// keyView is everything the API tells about one key.
type keyView struct {
	Metadata       *types.KeyMetadata
	Aliases        []types.AliasListEntry
	Tags           []types.Tag
	RotationStatus any // a rotationView, or the error code
	Rotations      []types.RotationsListEntry
	PolicyNames    []string
	Policy         string
}

type rotationView struct {
	KeyID                     string
	Enabled                   bool
	PeriodDays                *int32
	NextRotationDate          *time.Time
	OnDemandRotationStartDate *time.Time
}

// regionView is the whole visible state: ListKeys, ListAliases and a
// keyView per key.
type regionView struct {
	Keys    []types.KeyListEntry
	Aliases []types.AliasListEntry
	PerKey  map[string]keyView
}

// capture reads the whole visible state of the region through the API.
func capture(t testing.TB, c *awskms.Client) regionView {
	t.Helper()
	v := regionView{Keys: allKeys(t, c), Aliases: allAliases(t, c), PerKey: map[string]keyView{}}
	for _, k := range v.Keys {
		id := aws.ToString(k.KeyId)
		kv := keyView{Metadata: describe(t, c, id), Rotations: listRotations(t, c, id)}
		as, err := c.ListAliases(ctx(t), &awskms.ListAliasesInput{KeyId: &id})
		mustOK(t, "ListAliases of "+id, err)
		kv.Aliases = as.Aliases
		tags, err := c.ListResourceTags(ctx(t), &awskms.ListResourceTagsInput{KeyId: &id})
		mustOK(t, "ListResourceTags "+id, err)
		kv.Tags = tags.Tags
		rs, err := c.GetKeyRotationStatus(ctx(t), &awskms.GetKeyRotationStatusInput{KeyId: &id})
		if err != nil {
			kv.RotationStatus = errCode(err)
		} else {
			kv.RotationStatus = rotationView{
				KeyID: aws.ToString(rs.KeyId), Enabled: rs.KeyRotationEnabled, PeriodDays: rs.RotationPeriodInDays,
				NextRotationDate: rs.NextRotationDate, OnDemandRotationStartDate: rs.OnDemandRotationStartDate,
			}
		}
		pn, err := c.ListKeyPolicies(ctx(t), &awskms.ListKeyPoliciesInput{KeyId: &id})
		mustOK(t, "ListKeyPolicies "+id, err)
		kv.PolicyNames = pn.PolicyNames
		p, err := c.GetKeyPolicy(ctx(t), &awskms.GetKeyPolicyInput{KeyId: &id, PolicyName: aws.String("default")})
		mustOK(t, "GetKeyPolicy "+id, err)
		kv.Policy = aws.ToString(p.Policy)
		v.PerKey[id] = kv
	}
	return v
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	mustOK(t, "read "+path, err)
	return b
}

func jsonOf(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// sameView fails the test, showing the first differences, when two
// captures differ.
func sameView(t testing.TB, what string, before, after regionView) {
	t.Helper()
	b, a := jsonOf(before), jsonOf(after)
	if b == a {
		return
	}
	bl, al := strings.Split(b, "\n"), strings.Split(a, "\n")
	var diff []string
	for i := 0; i < max(len(bl), len(al)) && len(diff) < 40; i++ {
		var x, y string
		if i < len(bl) {
			x = bl[i]
		}
		if i < len(al) {
			y = al[i]
		}
		if x != y {
			diff = append(diff, fmt.Sprintf("line %d:\n  before: %s\n  after:  %s", i+1, x, y))
		}
	}
	t.Fatalf("%s: the region's state changed:\n%s", what, strings.Join(diff, "\n"))
}

// Shared assertions (internal/testnode).
var (
	mustOK  = testnode.MustOK
	errCode = testnode.ErrCode
	wantErr = testnode.WantErr
)
