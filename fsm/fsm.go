package fsm

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Hooks let the layer above react to state changes without the FSM importing
// it. They are called from Apply/Restore after the change, without the FSM's
// lock held (they may read the FSM), and must be quick.
type Hooks struct {
	// KeyDeleted is called when a key and its material leave the state.
	KeyDeleted func(keyID string)
	// Restored is called after Restore replaced the whole state.
	Restored func()
}

// freeAfterRestoreKeys is the state size from which Restore hands the
// decoding garbage back to the OS.
const freeAfterRestoreKeys = 10_000

// FSM is the region state machine. Reads are safe from any goroutine; writes
// happen only through Raft (Apply, Restore).
type FSM struct {
	mu sync.RWMutex
	st *state
	// index maps key ID → *Key for Key, the lookup on every crypto call,
	// without taking mu: Apply (the only writer, under mu) updates the
	// entries a command changed; Restore builds a new map and swaps the
	// pointer, so a reader sees the old state or the new one, never a mix.
	// Key records are immutable, so a reader may keep one.
	index   atomic.Pointer[sync.Map]
	hooks   atomic.Pointer[Hooks] // read by Raft's goroutine, set by the layer above
	applied atomic.Uint64         // index of the last log entry Apply consumed
	// advanced is closed, and replaced, each time applied moves: waiters
	// for an index (WaitApplied) sleep on it instead of polling.
	advanced atomic.Pointer[chan struct{}]
	// dueHint is a lower bound of the earliest time (Unix ms) at which any
	// key has scheduled work (deletion or automatic rotation), so DueWork,
	// which the leader calls every second, scans the keys only when
	// something may be due. Apply lowers it for the keys a command wrote;
	// a scan sets it exactly, under mu, so no Apply can interleave; Restore
	// resets it to 0 (scan next time).
	dueHint atomic.Int64
}

// state is everything the FSM holds; snapshots copy it.
type state struct {
	keys       map[string]*Key
	keyIDs     []string // sorted, for paging
	aliases    map[string]*Alias
	aliasNames []string // sorted, for paging
	seal       *Seal
	// identities by ARN, with the sorted ARNs for paging and an index
	// access key ID → ARN for SigV4 lookups (identity.go).
	identities   map[string]*Identity
	identityARNs []string
	accessKeys   map[string]string
	reqs         map[string]reqResult // request ID → result, for idempotency
	reqOrder     []reqEntry           // apply order, for expiry
	applied      uint64               // Raft index of the last command applied
	level        uint32               // command level (level.go); 0 in a v0.1 state means 1
	touched      []string             // keys written by the command being applied (putKey, dropKey)
}

type reqResult struct {
	Code    string `json:"code,omitempty"`
	Subject string `json:"subject,omitempty"`
	State   string `json:"state,omitempty"`
}

type reqEntry struct {
	ID string `json:"id"`
	At int64  `json:"at"`
}

func newState() *state {
	return &state{
		keys:       map[string]*Key{},
		aliases:    map[string]*Alias{},
		identities: map[string]*Identity{},
		accessKeys: map[string]string{},
		reqs:       map[string]reqResult{},
	}
}

// New returns an empty FSM.
func New() *FSM {
	f := &FSM{st: newState()}
	f.index.Store(new(sync.Map))
	ch := make(chan struct{})
	f.advanced.Store(&ch)
	return f
}

// setApplied publishes a new applied index and wakes WaitApplied callers.
// The index is stored before the channel is swapped, so a waiter that
// checks the index after taking the channel cannot miss an advance.
func (f *FSM) setApplied(index uint64) {
	f.applied.Store(index)
	ch := make(chan struct{})
	close(*f.advanced.Swap(&ch))
}

// WaitApplied blocks until AppliedIndex reaches index, ctx ends or deadline
// passes, and reports whether the index was reached.
func (f *FSM) WaitApplied(ctx context.Context, index uint64, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		ch := *f.advanced.Load()
		if f.applied.Load() >= index {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-timer.C:
			return f.applied.Load() >= index
		}
	}
}

// SetHooks installs hooks. Safe to call at any time, also while Raft runs.
func (f *FSM) SetHooks(h Hooks) { f.hooks.Store(&h) }

func (f *FSM) hooksNow() Hooks {
	if h := f.hooks.Load(); h != nil {
		return *h
	}
	return Hooks{}
}

// AppliedIndex is the Raft index of the last command the state includes
// (barriers and configuration entries do not count). It travels in
// snapshots, so after a Restore it is the snapshot's last command. A
// follower's read lease waits until its AppliedIndex reaches the leader's.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// markApplied records index as applied; f.mu is held, so a snapshot never
// sees a state without its index.
func (f *FSM) markApplied(index uint64) {
	f.st.applied = index
	f.setApplied(index)
}

// Apply implements raft.FSM. It returns nil or an error value (a *StateError
// for deterministic rejections). It panics on an entry it cannot decode, since
// continuing would let this node diverge from its peers.
func (f *FSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return nil
	}
	c, ignorable, err := Decode(l.Data)
	if err != nil {
		if ignorable {
			f.mu.Lock()
			f.markApplied(l.Index)
			f.mu.Unlock()
			return nil
		}
		panic(fmt.Sprintf("fsm: cannot apply log %d: %v", l.Index, err))
	}
	f.mu.Lock()
	deleted, err := f.applyLocked(c)
	f.syncIndex()
	f.markApplied(l.Index)
	f.mu.Unlock()
	// Hooks run after the lock is released, so they may read the FSM.
	if h := f.hooksNow(); deleted != "" && h.KeyDeleted != nil {
		h.KeyDeleted(deleted)
	}
	return err
}

// syncIndex copies the keys the last command wrote (st.touched) into the
// lock-free index; f.mu is held.
func (f *FSM) syncIndex() {
	index := f.index.Load()
	for _, id := range f.st.touched {
		if k, ok := f.st.keys[id]; ok {
			if due := k.dueAt(); due < f.dueHint.Load() {
				f.dueHint.Store(due)
			}
			index.Store(id, k)
		} else {
			index.Delete(id)
		}
	}
	f.st.touched = f.st.touched[:0]
}

// applyLocked runs one command with request-ID deduplication. It returns
// the ID of a key the command deleted, for the KeyDeleted hook.
func (f *FSM) applyLocked(c Command) (string, error) {
	r := c.req()
	st := f.st
	st.expireRequests(r.At)
	if r.ID != "" {
		if prev, ok := st.reqs[r.ID]; ok {
			return "", errorOf(prev.Code, prev.Subject, prev.State)
		}
	}
	deleted, err := st.apply(c)
	if r.ID != "" {
		res := reqResult{Code: codeOf(err)}
		if se, ok := err.(*StateError); ok {
			res.Subject, res.State = se.Subject, se.State
		}
		st.reqs[r.ID] = res
		st.reqOrder = append(st.reqOrder, reqEntry{ID: r.ID, At: r.At})
	}
	return deleted, err
}

// expireRequests forgets request IDs older than the TTL, judged by the
// command's own time so every node forgets the same ones.
func (st *state) expireRequests(now int64) {
	n := 0
	for n < len(st.reqOrder) && st.reqOrder[n].At < now-requestTTLMillis {
		delete(st.reqs, st.reqOrder[n].ID)
		n++
	}
	if n > 0 {
		st.reqOrder = append([]reqEntry(nil), st.reqOrder[n:]...)
	}
}

// Snapshot implements raft.FSM: it captures the state by copying the maps of
// immutable records, which is quick; Persist encodes it concurrently.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &snapshot{st: f.st.copy()}, nil
}

// Restore implements raft.FSM: it decodes into fresh state and swaps it in.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	index := new(sync.Map)
	for id, k := range st.keys {
		index.Store(id, k)
	}
	f.mu.Lock()
	f.st = st
	f.index.Store(index)
	f.dueHint.Store(0)
	f.setApplied(st.applied)
	f.mu.Unlock()
	// Decoding a snapshot of 100 k keys leaves about twice the state's size
	// in garbage; hand it back to the OS rather than keep it resident.
	// Restore runs at start and when a far-behind follower installs a
	// snapshot, never on the request path; the forced GC runs in the
	// background so Raft's restore (and its stats) do not wait for it.
	// Small states leave little garbage and are not worth a forced GC (the
	// fuzz and unit tests restore thousands of them).
	if len(st.keys) >= freeAfterRestoreKeys {
		go debug.FreeOSMemory()
	}
	if h := f.hooksNow(); h.Restored != nil {
		h.Restored()
	}
	return nil
}

// putKey and dropKey are the only writers of st.keys in live state; they
// note the key for FSM.syncIndex.
func (st *state) putKey(k *Key) {
	st.keys[k.ID] = k
	st.touched = append(st.touched, k.ID)
}

func (st *state) dropKey(id string) {
	delete(st.keys, id)
	st.touched = append(st.touched, id)
}

// copy returns a copy sharing the immutable records.
func (st *state) copy() *state {
	c := &state{
		keys:         make(map[string]*Key, len(st.keys)),
		keyIDs:       append([]string(nil), st.keyIDs...),
		aliases:      make(map[string]*Alias, len(st.aliases)),
		aliasNames:   append([]string(nil), st.aliasNames...),
		seal:         st.seal,
		identities:   make(map[string]*Identity, len(st.identities)),
		identityARNs: append([]string(nil), st.identityARNs...),
		accessKeys:   make(map[string]string, len(st.accessKeys)),
		applied:      st.applied,
		level:        st.level,
		reqs:         make(map[string]reqResult, len(st.reqs)),
		reqOrder:     append([]reqEntry(nil), st.reqOrder...),
	}
	for k, v := range st.keys {
		c.keys[k] = v
	}
	for k, v := range st.aliases {
		c.aliases[k] = v
	}
	for k, v := range st.identities {
		c.identities[k] = v
	}
	for k, v := range st.accessKeys {
		c.accessKeys[k] = v
	}
	for k, v := range st.reqs {
		c.reqs[k] = v
	}
	return c
}

// insertSorted and removeSorted keep the paging indexes ordered.
func insertSorted(s []string, v string) []string {
	i := sort.SearchStrings(s, v)
	if i < len(s) && s[i] == v {
		return s
	}
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeSorted(s []string, v string) []string {
	i := sort.SearchStrings(s, v)
	if i < len(s) && s[i] == v {
		return append(s[:i], s[i+1:]...)
	}
	return s
}
