package kms

// Plaintext key material and secret access keys never reach the Raft log or
// a snapshot: every command a real operation proposes, and the snapshot of
// the state they build, are searched for them in every encoding a leak
// would take (raw, base64, hex).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/kmsnode/kmsnode/api/wire"
	"github.com/kmsnode/kmsnode/fsm"
)

// logCluster applies commands to an FSM directly and keeps their encoded
// log entries.
type logCluster struct {
	f   *fsm.FSM
	log [][]byte
}

func (c *logCluster) Apply(_ context.Context, cmd fsm.Command) error {
	b, err := fsm.Encode(cmd)
	if err != nil {
		return err
	}
	c.log = append(c.log, b)
	if res, ok := c.f.Apply(&raft.Log{Index: uint64(len(c.log)), Type: raft.LogCommand, Data: b}).(error); ok {
		return res
	}
	return nil
}
func (c *logCluster) ApplyRevoking(ctx context.Context, cmd fsm.Command) error {
	return c.Apply(ctx, cmd)
}
func (c *logCluster) ReadReady() error                     { return nil }
func (c *logCluster) RenewLease(ctx context.Context) error { return nil }
func (c *logCluster) IsLeader() bool                       { return true }

func TestNoPlaintextSecretsInLogOrSnapshot(t *testing.T) {
	ctx := context.Background()
	lc := &logCluster{f: fsm.New()}
	s := New(Config{Region: "us-east-1", AccountID: "111122223333", AdminAccessKeys: []string{"AKIAOPERATOR"}}, lc, lc.f)
	kek := bytes.Repeat([]byte{7}, 32)
	if err := s.Unseal(ctx, NewKEKUnsealer("file", kek)); err != nil {
		t.Fatal(err)
	}
	base := ctx
	n := 0
	call := func() context.Context { // each call is a new request, with its own ID
		n++
		return WithRequest(base, &RequestInfo{ID: fmt.Sprintf("req-%d", n), Principal: "arn:aws:iam::111122223333:user/op", AccessKeyID: "AKIAOPERATOR"})
	}

	var secrets [][]byte
	created, err := s.CreateKey(call(), &wire.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := created.KeyMetadata.KeyId
	if _, err := s.RotateKeyOnDemand(call(), &wire.RotateKeyOnDemandRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	k, _ := lc.f.Key(id)
	for i := range k.Materials {
		var mat [32]byte
		if err := s.material(k, &k.Materials[i], &mat); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, append([]byte(nil), mat[:]...))
	}
	idResp, err := s.CreateIdentity(call(), &CreateIdentityRequest{Identity: "app"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, []byte(idResp.AccessKey.SecretAccessKey))
	ak, err := s.CreateAccessKey(call(), &IdentityRequest{Identity: "app"})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, []byte(ak.AccessKey.SecretAccessKey), kek)
	// The opened secret is what SigV4 verification gets.
	if _, sec, ok := s.Credential(ak.AccessKey.AccessKeyId); !ok || sec != ak.AccessKey.SecretAccessKey {
		t.Fatal("Credential does not open the sealed secret")
	}

	snap, err := lc.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	places := map[string][]byte{"snapshot": sink.Bytes()}
	for i, e := range lc.log {
		places[fmt.Sprintf("log entry %d", i)] = e
	}
	for where, b := range places {
		for _, sec := range secrets {
			for _, enc := range [][]byte{sec, []byte(base64.StdEncoding.EncodeToString(sec)), []byte(base64.RawStdEncoding.EncodeToString(sec)), []byte(hex.EncodeToString(sec))} {
				if bytes.Contains(b, enc) {
					t.Fatalf("%s holds a secret (%d bytes) in the clear", where, len(sec))
				}
			}
		}
	}
	if len(lc.log) < 4 {
		t.Fatalf("only %d log entries: the operations did not go through the log", len(lc.log))
	}
}

type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }
