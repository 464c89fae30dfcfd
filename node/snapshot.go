package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kmsnode/kmsnode/api"
	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/internal/snapfile"
	"github.com/kmsnode/kmsnode/kms"
)

// Backups (deploy/DR.md). Save: any node with a read lease streams a Raft
// user snapshot of its state, after renewing its lease so that the snapshot
// holds every write acknowledged before the call; it does not have to be
// the leader, which keeps the work (a full copy of the state, read twice)
// off the node that orders every write. Restore: the leader checks the
// archive completely (checksum, decoding, region, account, that its unseal
// key opens the snapshot's root key) before Raft's user restore replaces
// the state, so a refused archive changes nothing; every node then opens
// the restored seal (restoreWatch).

// restoreTimeout bounds Raft's restore (copying the snapshot and waiting
// for a quorum to install it).
const restoreTimeout = 10 * time.Minute

// nodeOperator serves the operator operations that need more than the
// cluster (api.Operator).
type nodeOperator struct {
	operator
	n *Node
}

func (n *Node) operator() api.Operator { return nodeOperator{operator{n.cluster}, n} }

// SaveSnapshot implements api.Operator.
func (o nodeOperator) SaveSnapshot(ctx context.Context) (api.SnapshotStream, error) {
	return o.n.saveSnapshot(ctx)
}

// RestoreSnapshot implements api.Operator.
func (o nodeOperator) RestoreSnapshot(ctx context.Context, body io.Reader, force bool) (any, error) {
	return o.n.restoreSnapshot(ctx, body, force)
}

// Status implements api.Operator (status.go).
func (o nodeOperator) Status(ctx context.Context) (any, error) { return o.n.status(ctx), nil }

// snapshotStream is one backup on its way to the caller: the archive's
// header and the snapshot spooled in the data directory.
type snapshotStream struct {
	h    snapfile.Header
	f    *os.File
	size int64
}

func (s *snapshotStream) Len() int64 { return s.size }

func (s *snapshotStream) WriteTo(w io.Writer) (int64, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return snapfile.Write(w, s.h, s.f)
}

func (s *snapshotStream) Close() error {
	err := s.f.Close()
	if rerr := os.Remove(s.f.Name()); err == nil {
		err = rerr
	}
	return err
}

// saveSnapshot takes the snapshot, spools it (Raft opens a user snapshot
// once, and the header, which carries its digest, goes first) while
// decoding it into a scratch state machine: a backup that saves is one
// that decodes, and the header's summary counts what it holds.
func (n *Node) saveSnapshot(ctx context.Context) (_ *snapshotStream, err error) {
	if err := n.kms.CheckUnsealed(); err != nil {
		return nil, err
	}
	if err := n.cluster.RenewLease(ctx); err != nil {
		return nil, err // no proof that this node's state is current: retryable
	}
	info, rc, err := n.cluster.UserSnapshot()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(n.cfg.DataDir, ".snapshot-save-*")
	if err != nil {
		return nil, fmt.Errorf("node: snapshot spool: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	sum := newDigest()
	tee := io.TeeReader(rc, io.MultiWriter(f, sum))
	scratch := fsm.New()
	if err := scratch.Restore(io.NopCloser(tee)); err != nil {
		return nil, fmt.Errorf("node: the snapshot just taken does not decode: %w", err)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // what the decoder left
		return nil, fmt.Errorf("node: snapshot spool: %w", err)
	}
	if sum.n != info.Size {
		return nil, fmt.Errorf("node: the snapshot is %d bytes, Raft says %d", sum.n, info.Size)
	}
	h := snapfile.Header{
		Format: snapfile.Format, Region: n.cfg.Region, AccountID: n.cfg.AccountID, Partition: n.cfg.Partition,
		NodeID: n.cfg.NodeID, Version: version(), Created: time.Now().UTC().Truncate(time.Millisecond),
		Index: info.Index, Term: info.Term, SnapshotVersion: info.Version, Size: info.Size,
		FSMDigest: sum.hex(), Summary: summarize(scratch),
	}
	size, err := snapfile.Len(h)
	if err != nil {
		return nil, err
	}
	n.log.Info("snapshot saved for a backup", "raft_index", info.Index, "bytes", info.Size, "keys", h.Summary.Keys)
	return &snapshotStream{h: h, f: f, size: size}, nil
}

// summarize counts what a state holds, for a snapshot's header.
func summarize(f *fsm.FSM) snapfile.Summary {
	aliases, _ := f.ListAliases("", "", math.MaxInt)
	s := snapfile.Summary{AppliedIndex: f.AppliedIndex(), Keys: f.KeyCount(), Aliases: len(aliases), Identities: f.IdentityCount()}
	if seal := f.Seal(); seal != nil {
		s.SealProviders = kms.SealProviders(seal)
		if len(seal.Terms) > 0 {
			s.KeyringTerm = seal.Terms[len(seal.Terms)-1].Number
		}
		if seal.Shamir != nil {
			s.ShamirThreshold, s.ShamirShares = seal.Shamir.Threshold, seal.Shamir.Shares
		}
	}
	return s
}

// RestoreResult answers KmsNodeOperator.SnapshotRestore.
type RestoreResult struct {
	Region        string
	SnapshotIndex uint64 // the Raft index of the archive
	Summary       snapfile.Summary
	// StateDigest is the restored state's digest right after the restore;
	// it equals the archive's FSMDigest unless a write came between.
	StateDigest string
	// Sealed: this node could not open the restored seal by itself (a
	// shamir region: unseal every node with the snapshot region's shares).
	Sealed bool
	Detail string `json:",omitempty"`
}

func invalidState(format string, args ...any) error {
	return &kms.Error{Kind: kms.ErrInvalidState, Msg: fmt.Sprintf(format, args...)}
}

func damaged(err error) error {
	return &kms.Error{Kind: kms.ErrValidation, Msg: "The snapshot file is damaged or not a kmsnode snapshot (" + err.Error() + "); nothing was changed."}
}

// restoreSnapshot replaces the region's state by the archive in body.
func (n *Node) restoreSnapshot(ctx context.Context, body io.Reader, force bool) (*RestoreResult, error) {
	if !n.cluster.IsLeader() {
		id, addr := n.cluster.Leader()
		return nil, invalidState("Node %s is not the region's leader: send the restore to the leader (node %s, cluster address %s).", n.cfg.NodeID, dashIfEmpty(id), dashIfEmpty(addr))
	}
	if !n.restoring.TryLock() {
		return nil, &kms.Error{Kind: kms.ErrConflict, Msg: "A restore is already running on this node."}
	}
	defer n.restoring.Unlock()

	spool, err := os.CreateTemp(n.cfg.DataDir, ".snapshot-restore-*")
	if err != nil {
		return nil, fmt.Errorf("node: restore spool: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	ar, err := snapfile.NewReader(body)
	if err != nil {
		return nil, restoreReadError(err)
	}
	if _, err := io.Copy(spool, ar); err != nil {
		return nil, restoreReadError(err)
	}
	h := ar.Header()
	if h.Region != n.cfg.Region {
		// Not even --force: the root key and all key material are sealed
		// with the region's name bound in, so this region could never open
		// them.
		return nil, invalidState("The snapshot is of region %s, not %s: its root key and key material are bound to the region name, so it can only be restored into a region named %s.", h.Region, n.cfg.Region, h.Region)
	}
	if h.AccountID != n.cfg.AccountID && !force {
		return nil, invalidState("The snapshot is of account %s, not %s: its ARNs and policies name that account. Restore it with --force to take it anyway.", h.AccountID, n.cfg.AccountID)
	}
	if k := n.fsm.KeyCount(); k > 0 && !force {
		return nil, invalidState("This region is not new: it holds %d keys, which the restore would replace. Restore into a freshly started region, or give --force.", k)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	scratch := fsm.New()
	if err := scratch.Restore(io.NopCloser(spool)); err != nil {
		return nil, damaged(err)
	}
	note, err := n.checkRestorableSeal(ctx, scratch.Seal(), force)
	if err != nil {
		return nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	seen := n.reopen.finished()
	n.log.Warn("restoring the region's state from a snapshot", "snapshot_region", h.Region, "snapshot_node", h.NodeID,
		"snapshot_index", h.Index, "snapshot_created", h.Created, "keys", h.Summary.Keys, "force", force)
	info := cluster.SnapshotInfo{Index: h.Index, Term: h.Term, Size: h.Size, Version: h.SnapshotVersion}
	if err := n.cluster.RestoreSnapshot(info, spool, restoreTimeout); err != nil {
		if errors.Is(err, cluster.ErrNotLeader) {
			return nil, invalidState("This node lost the leadership before the restore: nothing was changed; retry against the new leader.")
		}
		return nil, err
	}
	res := &RestoreResult{Region: h.Region, SnapshotIndex: h.Index, Summary: summarize(n.fsm), StateDigest: n.fsm.Digest()}
	n.log.Warn("the region's state was restored from a snapshot", "snapshot_index", h.Index, "keys", res.Summary.Keys)
	if n.kms.Sealed() {
		// The Restored hook sealed this node; restoreWatch opens the new
		// seal. Wait for it so the caller learns whether it could.
		if err := n.reopen.wait(ctx, seen); err != nil {
			res.Sealed, res.Detail = true, err.Error()
		}
	}
	if note != "" && n.kms.Sealed() {
		res.Sealed, res.Detail = true, note
	}
	return res, nil
}

// restoreReadError maps a failure to read the archive: damage is the
// caller's (ValidationException), a body that is not the one signed is an
// authentication failure (api), anything else an internal error.
func restoreReadError(err error) error {
	if errors.Is(err, snapfile.ErrCorrupt) || errors.Is(err, snapfile.ErrNotSnapshot) || errors.Is(err, snapfile.ErrFormat) {
		return damaged(err)
	}
	return err
}

// checkRestorableSeal checks that this node can open the snapshot's seal:
// with the root key it holds (an older snapshot of this region), else with
// its unseal provider. shamir cannot tell without the shares: sealed
// reports that the region will need them. A provider that cannot be
// loaded again (env: the variable is cleared at start) is accepted only
// with force.
func (n *Node) checkRestorableSeal(ctx context.Context, seal *fsm.Seal, force bool) (note string, err error) {
	if seal == nil {
		return "", invalidState("The snapshot holds no seal: its region was never initialised. Nothing was changed.")
	}
	if err := n.kms.CheckSealOpens(ctx, seal, nil); !errors.Is(err, kms.ErrNeedsShares) {
		return "", err
	}
	u, _, lerr := loadUnsealer(&n.cfg, false)
	if s, ok := u.(sealedStarter); ok {
		s.Wipe()
		if _, ok := seal.WrappedRoot[kms.ShamirProvider]; !ok {
			return "", invalidState("The snapshot's root key is not wrapped for shamir, this node's unseal provider (it is for %v).", kms.SealProviders(seal))
		}
		return "The snapshot's region unseals with Shamir shares: unseal every node with a threshold of that region's shares (kmsctl unseal).", nil
	}
	if w, ok := u.(interface{ Wipe() }); ok {
		defer w.Wipe()
	}
	if lerr != nil {
		if force {
			n.log.Warn("restore: cannot load the unseal key to check the snapshot's seal; continuing (--force)", "err", lerr)
			return "The nodes could not load their unseal key: restart each with the unseal key of the snapshot's region.", nil
		}
		return "", invalidState("This node cannot load its unseal key again to check that it opens the snapshot (%v). Make the key available, or give --force (nodes then stay sealed until they restart with the snapshot region's unseal key).", lerr)
	}
	return "", n.kms.CheckSealOpens(ctx, seal, u)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// restoreWatch opens the restored seal on every node: the FSM's Restored
// hook seals a node whose keyring the restore made stale and signals
// kms.SealReplaced; the watch reopens the seal with the node's unseal
// provider and re-seals the node's audit signing key under the new keyring
// (it is kept in the data directory sealed under the region keyring, so
// without this the node could not start again).
type restoreWatch struct {
	stop context.CancelFunc
	done chan struct{}

	mu     sync.Mutex
	passes uint64        // reopen attempts finished
	err    error         // of the latest
	moved  chan struct{} // closed and replaced when passes moves
}

func (n *Node) startRestoreWatch() {
	removeStaleSpools(n.cfg.DataDir, n.log)
	ctx, cancel := context.WithCancel(context.Background())
	w := &n.reopen
	w.mu.Lock()
	w.stop, w.done, w.moved = cancel, make(chan struct{}), make(chan struct{})
	w.mu.Unlock()
	go func() {
		defer close(w.done)
		// A node that started sealed opens its audit key only at its first
		// checkpoint; hold it as soon as the node is unsealed, so a restore
		// that replaces the keyring can re-seal it.
		select {
		case <-n.kms.Unsealed():
			n.loadAuditKey()
		case <-ctx.Done():
			return
		case <-n.kms.SealReplaced():
			n.finishPass(ctx, n.reopenSeal(ctx))
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.kms.SealReplaced():
			}
			n.finishPass(ctx, n.reopenSeal(ctx))
		}
	}()
}

// finishPass records a reopen attempt for restoreWatch.wait.
func (n *Node) finishPass(ctx context.Context, err error) {
	w := &n.reopen
	w.mu.Lock()
	w.passes++
	w.err = err
	close(w.moved)
	w.moved = make(chan struct{})
	w.mu.Unlock()
	if errors.Is(err, kms.ErrNeedsShares) {
		go n.resealAuditKeyWhenUnsealed(ctx)
	}
}

// loadAuditKey opens the node's audit signing key now if it is not held.
func (n *Node) loadAuditKey() {
	if n.signer == nil {
		return
	}
	s := n.signer
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil && !s.kms.Sealed() {
		if err := s.load(); err != nil {
			n.log.Error("cannot open the audit signing key", "err", err)
		}
	}
}

func (w *restoreWatch) stopWatch() {
	w.mu.Lock()
	stop, done := w.stop, w.done
	w.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// finished is the number of reopen passes done so far.
func (w *restoreWatch) finished() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.passes
}

// wait waits for a pass after `after` and returns its error.
func (w *restoreWatch) wait(ctx context.Context, after uint64) error {
	for {
		w.mu.Lock()
		passes, err, moved := w.passes, w.err, w.moved
		w.mu.Unlock()
		if passes > after {
			return err
		}
		if moved == nil {
			return errors.New("node: no restore watch running")
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reopenSeal opens the restored seal with the node's unseal provider.
func (n *Node) reopenSeal(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.StartTimeout)
	defer cancel()
	var wipe func()
	err := n.kms.ReopenSeal(ctx, func() (kms.Unsealer, error) {
		u, _, err := loadUnsealer(&n.cfg, false)
		if err != nil {
			return nil, err
		}
		if s, ok := u.(sealedStarter); ok {
			s.Wipe()
			return nil, kms.ErrNeedsShares
		}
		if w, ok := u.(interface{ Wipe() }); ok {
			wipe = w.Wipe
		}
		return u, nil
	})
	if wipe != nil {
		wipe()
	}
	switch {
	case err == nil:
		n.log.Info("opened the restored region's seal")
		if rerr := n.resealAuditKey(); rerr != nil {
			n.log.Error("cannot re-seal the audit signing key under the restored keyring", "err", rerr)
		}
	case errors.Is(err, kms.ErrNeedsShares):
		n.log.Warn("the restored region unseals with Shamir shares: this node is sealed until unsealed with the snapshot region's shares (kmsctl unseal)")
	default:
		n.log.Error("cannot open the restored region's seal; the node stays sealed: restart it with the unseal key of the snapshot's region", "err", err)
	}
	return err
}

// resealAuditKeyWhenUnsealed re-seals the audit key once operators have
// unsealed the node with shares.
func (n *Node) resealAuditKeyWhenUnsealed(ctx context.Context) {
	select {
	case <-n.kms.Unsealed():
		if err := n.resealAuditKey(); err != nil {
			n.log.Error("cannot re-seal the audit signing key under the restored keyring", "err", err)
		}
	case <-ctx.Done():
	}
}

// resealAuditKey stores the node's audit signing key again, sealed under
// the keyring now in force.
func (n *Node) resealAuditKey() error {
	if n.signer == nil {
		return nil // no audit log
	}
	s := n.signer
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seed == nil {
		return errors.New("the key was not loaded before the restore; move " + filepath.Join(s.dir, auditKeyFile) + " aside to make a new one")
	}
	sealed, err := s.kms.SealLocal(auditKeyPurpose, s.nodeID, s.seed)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.dir, auditKeyFile), sealed, 0o600)
}

// digest is a SHA-256 that counts what it hashed.
type digest struct {
	h hash.Hash
	n int64
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return d.h.Write(p)
}

func (d *digest) hex() string { return hex.EncodeToString(d.h.Sum(nil)) }

// removeStaleSpools deletes the spool files of saves and restores that a
// crash interrupted (each is a whole copy of the state).
func removeStaleSpools(dir string, log *slog.Logger) {
	for _, pattern := range []string{".snapshot-save-*", ".snapshot-restore-*"} {
		names, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, name := range names {
			if err := os.Remove(name); err != nil {
				log.Warn("cannot remove an interrupted snapshot spool", "file", name, "err", err)
			}
		}
	}
}
