package kms

import (
	"context"
	"crypto/hmac"
	"errors"
	"sync"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// Restoring a snapshot (kmsctl snapshot restore, design in deploy/DR.md)
// replaces the whole state, the region's seal with it. Restored into a new
// region, the snapshot brings the old region's root key, wrapped by the
// same unseal key, and its keyring terms: the keyring this node opened from
// its own region's first seal no longer opens anything in the state, and
// worse, new material sealed under it would be lost. So the FSM's Restored
// hook seals the node at once, on Raft's FSM goroutine, before any later
// command is applied, and tells the node (SealReplaced), which opens the new
// seal with its unseal provider (ReopenSeal). A follower that installs a
// snapshot of its own region (it fell behind) sees the same root key and is
// left alone.

// sealReplaced is the signal to the node; buffered, so the hook never
// blocks and several restores in a row coalesce.
type sealReplaced struct {
	once sync.Once
	ch   chan struct{}
}

func (r *sealReplaced) c() chan struct{} {
	r.once.Do(func() { r.ch = make(chan struct{}, 1) })
	return r.ch
}

// SealReplaced receives a value each time a restored snapshot replaced the
// region's seal by one this node's keyring was not opened from: the node is
// then sealed until ReopenSeal succeeds.
func (s *Service) SealReplaced() <-chan struct{} { return s.unseal.replaced.c() }

// restored is the FSM's Restored hook. It must not block: it takes no lock
// that a caller waiting for Raft (a rekey holds unseal.mu while it applies)
// could hold.
func (s *Service) restored() {
	s.materials.forgetAll()
	s.secrets.forget()
	p := s.unseal.opened.Load()
	if p == nil {
		return // sealed: the next unseal opens whatever seal is there
	}
	seal := s.fsm.Seal()
	if seal != nil && hmac.Equal(*p, seal.RootCheck) && s.keyring.Active() <= lastTerm(seal) {
		return // the same root key and no term the seal lacks
	}
	s.unseal.opened.Store(nil)
	s.keyring.Wipe()
	s.log.Warn("a restored snapshot replaced the region's seal: this node is sealed until it opens the new seal")
	select {
	case s.unseal.replaced.c() <- struct{}{}:
	default:
	}
}

func lastTerm(seal *fsm.Seal) uint32 {
	if len(seal.Terms) == 0 {
		return 0
	}
	return seal.Terms[len(seal.Terms)-1].Number
}

// ErrNeedsShares: the node's unseal provider cannot open a seal by itself
// (shamir); operators unseal it with the shares of the restored seal.
var ErrNeedsShares = errors.New("kms: the unseal provider needs unseal shares")

// ReopenSeal opens the region's seal again after a restore replaced it
// (SealReplaced). A seal of the root key this node holds (an older snapshot
// of this region) is opened with it; any other with the unseal provider
// that load returns (load may return ErrNeedsShares: the node stays sealed
// and kmsctl unseal opens it). The previous root key and keyring are
// forgotten either way.
func (s *Service) ReopenSeal(ctx context.Context, load func() (Unsealer, error)) error {
	if err := s.waitLease(ctx); err != nil {
		return err
	}
	seal := s.fsm.Seal()
	if seal == nil {
		return errors.New("kms: the restored state holds no seal")
	}
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	if p := s.unseal.opened.Load(); p != nil && hmac.Equal(*p, seal.RootCheck) && !s.Sealed() {
		return nil // opened meanwhile (kmsctl unseal)
	}
	var held []byte
	if s.unseal.root != nil && crypto.VerifyRootCheck(s.unseal.root, seal.RootCheck) {
		held = append(held, s.unseal.root...)
		defer crypto.Zero(held)
	}
	crypto.Zero(s.unseal.root)
	s.unseal.root, s.unseal.loaded, s.unseal.unsealed = nil, 0, nil
	s.unseal.opened.Store(nil)
	s.keyring.Wipe()
	s.secrets.forget()
	s.clearSharesLocked()
	if held != nil {
		name := ""
		if p := sortedProviders(seal); len(p) > 0 {
			name = p[0] // openSeal looks the wrapped root up by name, then ignores it
		}
		return s.openSeal(ctx, seal, heldRoot{name: name, root: held})
	}
	u, err := load()
	if err != nil {
		return err
	}
	return s.openSeal(ctx, seal, u)
}

// heldRoot is an Unsealer over a root key already in memory, so that
// openSeal reopens a seal of that root without the unseal provider.
type heldRoot struct {
	name string
	root []byte
}

func (h heldRoot) Name() string { return h.name }

func (h heldRoot) Wrap(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errors.New("kms: a held root key wraps nothing")
}

func (h heldRoot) Unwrap(context.Context, []byte, []byte) ([]byte, error) {
	return append([]byte(nil), h.root...), nil
}

// CheckSealOpens reports whether this node could open seal, the seal of a
// snapshot about to be restored, and all its keyring terms: with the root
// key it holds (a snapshot of this region) or with u (nil: only the held
// root is tried; ErrNeedsShares if that is not it). It changes nothing and
// keeps no secret.
func (s *Service) CheckSealOpens(ctx context.Context, seal *fsm.Seal, u Unsealer) error {
	if seal == nil || len(seal.Terms) == 0 {
		return errorf(ErrInvalidState, "The snapshot holds no seal: its region was never initialised.")
	}
	s.unseal.mu.Lock()
	var root []byte
	if s.unseal.root != nil && crypto.VerifyRootCheck(s.unseal.root, seal.RootCheck) {
		root = append(root, s.unseal.root...)
	}
	s.unseal.mu.Unlock()
	if root == nil {
		if u == nil {
			return ErrNeedsShares
		}
		wrapped, ok := seal.WrappedRoot[u.Name()]
		if !ok {
			return errorf(ErrInvalidState, "The snapshot's root key is not wrapped for this node's unseal provider %q (it is for %s).", u.Name(), providerList(seal))
		}
		var err error
		if root, err = u.Unwrap(ctx, wrapped, crypto.RootAAD(s.cfg.Region, u.Name())); err != nil {
			return errorf(ErrInvalidState, "This node's unseal key does not open the snapshot's root key: restore into a region that uses the unseal key of the region that made the snapshot, under the same region name.")
		}
	}
	defer crypto.Zero(root)
	if !crypto.VerifyRootCheck(root, seal.RootCheck) {
		return errorf(ErrInvalidState, "The snapshot's root key does not match its check value: the snapshot is damaged.")
	}
	for _, t := range seal.Terms {
		k, err := crypto.Unwrap(root, t.Sealed, crypto.TermAAD(s.cfg.Region, t.Number))
		if err != nil {
			return errorf(ErrInvalidState, "Keyring term %d of the snapshot does not open with its root key: the snapshot is damaged.", t.Number)
		}
		crypto.Zero(k)
	}
	return nil
}

// SealProviders lists the providers a seal's root key is wrapped for.
func SealProviders(seal *fsm.Seal) []string { return sortedProviders(seal) }
