package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

// t0 is the fixture clock (Unix ms); tests move time with offsets from it.
const t0 int64 = 1_700_000_000_000

const (
	minute int64 = 60 * 1000
	day          = 24 * 60 * minute
)

// Fixture key IDs: UUID strings, as the proposer generates them.
const (
	keyA = "1234abcd-12ab-34cd-56ef-1234567890ab"
	keyB = "2345bcde-23bc-45de-67f0-234567890abc"
	keyC = "3456cdef-34cd-56ef-7801-34567890abcd"
)

// fixtureUUID returns a deterministic UUID-shaped key ID for n.
func fixtureUUID(n int) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", n, n&0xffff, n&0xfff, n&0xfff, n)
}

// sealedBlob is an opaque stand-in for sealed material: the FSM never looks
// inside it.
func sealedBlob(id string, v uint32) []byte {
	return []byte(fmt.Sprintf("sealed:%s:v%d:\x00\x01\xfe\xff", id, v))
}

// fixtureKey is an Enabled symmetric key with one material version.
func fixtureKey(id string, opts ...func(*Key)) Key {
	k := Key{
		ID:        id,
		CreatedAt: t0,
		Usage:     "ENCRYPT_DECRYPT",
		Spec:      "SYMMETRIC_DEFAULT",
		Origin:    "AWS_KMS",
		Manager:   "CUSTOMER",
		State:     StateEnabled,
		Policy:    `{"Version":"2012-10-17","Statement":[]}`,
		Materials: []Material{{Version: 1, Sealed: sealedBlob(id, 1), CreatedAt: t0}},
	}
	for _, o := range opts {
		o(&k)
	}
	return k
}

// at is a Req without a request ID, so it leaves no trace in the request
// table; rid is one with an ID.
func at(ms int64) Req             { return Req{At: ms} }
func rid(id string, ms int64) Req { return Req{ID: id, At: ms} }

func createKey(id string, opts ...func(*Key)) *CreateKey {
	return &CreateKey{Req: at(t0), Key: fixtureKey(id, opts...)}
}

// makeLog wraps an encoded command in a Raft log entry.
func makeLog(t testing.TB, index uint64, cmd Command) *raft.Log {
	t.Helper()
	b, err := Encode(cmd)
	if err != nil {
		t.Fatalf("encode %T: %v", cmd, err)
	}
	return &raft.Log{Type: raft.LogCommand, Index: index, Term: 1, Data: b}
}

// apply applies cmds at the indexes following f.AppliedIndex and returns the
// results.
func apply(t testing.TB, f *FSM, cmds ...Command) []interface{} {
	t.Helper()
	out := make([]interface{}, len(cmds))
	for i, c := range cmds {
		out[i] = f.Apply(makeLog(t, f.AppliedIndex()+1, c))
	}
	return out
}

// applyOne applies one command and returns its result as an error.
func applyOne(t testing.TB, f *FSM, c Command) error {
	t.Helper()
	res := apply(t, f, c)[0]
	if res == nil {
		return nil
	}
	err, ok := res.(error)
	if !ok {
		t.Fatalf("Apply(%T) returned %T, want error or nil", c, res)
	}
	return err
}

// mustApply applies cmds and fails the test on any rejection.
func mustApply(t testing.TB, f *FSM, cmds ...Command) {
	t.Helper()
	for _, c := range cmds {
		if err := applyOne(t, f, c); err != nil {
			t.Fatalf("Apply(%T): %v", c, err)
		}
	}
}

// newFSM returns an FSM with cmds applied successfully.
func newFSM(t testing.TB, cmds ...Command) *FSM {
	t.Helper()
	f := New()
	mustApply(t, f, cmds...)
	return f
}

// bufSink is an in-memory raft.SnapshotSink.
type bufSink struct {
	bytes.Buffer
	closed, cancelled bool
	failWrite         bool
}

func (s *bufSink) ID() string { return "test-sink" }

func (s *bufSink) Write(p []byte) (int, error) {
	if s.failWrite {
		return 0, errors.New("sink: disk full")
	}
	return s.Buffer.Write(p)
}

func (s *bufSink) Close() error  { s.closed = true; return nil }
func (s *bufSink) Cancel() error { s.cancelled = true; return nil }

var _ raft.SnapshotSink = (*bufSink)(nil)

// persist writes a captured snapshot and returns its bytes.
func persist(t testing.TB, snap raft.FSMSnapshot) []byte {
	t.Helper()
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist left sink closed=%v cancelled=%v", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// snapBytes is the snapshot encoding of f's current state, without the
// applied index: tests compare contents reached by different logs.
func snapBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	f.mu.RLock()
	st := f.st.copy()
	f.mu.RUnlock()
	st.applied = 0
	return persist(t, &snapshot{st: st})
}

// closeTracker is an io.ReadCloser that records Close.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func restore(f *FSM, b []byte) error {
	return f.Restore(&closeTracker{Reader: bytes.NewReader(b)})
}

// mustKey returns a key of f or fails the test.
func mustKey(t testing.TB, f *FSM, id string) *Key {
	t.Helper()
	k, ok := f.Key(id)
	if !ok {
		t.Fatalf("key %s not found", id)
	}
	return k
}

// deepCopyJSON returns a JSON image of v, for "unchanged" comparisons of
// records that must be immutable.
func deepCopyJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rotate is an on-demand RotateKey to version v.
func rotate(id string, v uint32, ms int64, typ string) *RotateKey {
	return &RotateKey{Req: at(ms), KeyID: id, Material: Material{Version: v, Sealed: sealedBlob(id, v), CreatedAt: ms, RotationType: typ}}
}

// nTags returns n distinct tags t000…
func nTags(n int) []Tag {
	tags := make([]Tag, n)
	for i := range tags {
		tags[i] = Tag{Key: fmt.Sprintf("t%03d", i), Value: "v"}
	}
	return tags
}

// testSeal is a fully populated region seal.
func testSeal() Seal {
	return Seal{
		WrappedRoot: map[string][]byte{"shamir": []byte("wrapped-by-shamir"), "awskms": []byte("wrapped-by-awskms")},
		RootCheck:   []byte("check-value-0123"),
		Terms:       []Term{{Number: 1, Sealed: []byte("term-1-sealed")}, {Number: 2, Sealed: []byte("term-2-sealed")}},
	}
}

// checkIndex fails unless the lock-free index behind FSM.Key holds exactly
// the keys of the state, each the same record.
func checkIndex(t testing.TB, f *FSM) {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := 0
	f.index.Load().Range(func(id, v any) bool {
		n++
		if k, ok := f.st.keys[id.(string)]; !ok || k != v.(*Key) {
			t.Fatalf("index holds key %s, state has %v", id, ok)
		}
		return true
	})
	if n != len(f.st.keys) {
		t.Fatalf("index holds %d keys, state %d", n, len(f.st.keys))
	}
}
