package kms

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// Purposes bound into sealing AAD.
const (
	purposeMaterial = "key-material" // SealAAD.Purpose of key material
)

// ShamirProvider is the unseal provider whose key exists only as shares.
const ShamirProvider = fsm.ShamirProvider

// sealState is what a node holds of the region's seal (design-notes §5.2):
// the root key while unsealed, kept in memory as Vault keeps its root key,
// because rotating the keyring and rekeying need it; the unseal shares
// received so far; the failed-attempt back-off; a rekey in progress. Every
// secret here is zeroed when it is no longer needed and on Close.
type sealState struct {
	mu       sync.Mutex
	provider string   // the node's unseal provider (SetSealProvider)
	root     []byte   // region root key; nil while sealed
	loaded   uint32   // highest keyring term loaded from the seal
	shares   [][]byte // unseal shares received toward the threshold
	// sharesExpire clears shares left short of the threshold (shareTTL).
	sharesExpire *time.Timer
	failures     int // consecutive failed unseal (or rekey) attempts
	retryAt      time.Time
	rekey        *rekeyState // rekey.go
	unsealed     chan struct{}
	// opened is the check value of the root key the keyring came from (nil
	// while sealed), read without mu by the FSM's Restored hook; replaced
	// tells the node that a restore brought another seal (restore.go).
	opened   atomic.Pointer[[]byte]
	replaced sealReplaced
}

// unsealedCh returns the channel closed once the node is unsealed; mu held.
func (st *sealState) unsealedCh() chan struct{} {
	if st.unsealed == nil {
		st.unsealed = make(chan struct{})
	}
	return st.unsealed
}

// SetSealProvider records the name of the node's unseal provider (for
// SealStatus and rekey) before it is unsealed.
func (s *Service) SetSealProvider(name string) {
	s.unseal.mu.Lock()
	s.unseal.provider = name
	s.unseal.mu.Unlock()
}

// Unsealed returns a channel that is closed once the node is unsealed.
func (s *Service) Unsealed() <-chan struct{} {
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	return s.unseal.unsealedCh()
}

// Unseal makes the service able to serve crypto: it opens the region's root
// key with the unseal provider u and loads the keyring terms. On a new
// region (no seal in the FSM) the leader creates the hierarchy: a random
// root key and first term, wrapped by u and sealed, proposed as the first
// command. u is not retained.
func (s *Service) Unseal(ctx context.Context, u Unsealer) error {
	s.SetSealProvider(u.Name())
	for {
		// The seal may sit in the log not yet replayed after a restart: a
		// lease proves the FSM has caught up with the leader.
		if err := s.waitLease(ctx); err != nil {
			return err
		}
		if seal := s.fsm.Seal(); seal != nil {
			s.unseal.mu.Lock()
			defer s.unseal.mu.Unlock()
			return s.openSeal(ctx, seal, u)
		}
		if !s.cluster.IsLeader() {
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		created, err := s.initSeal(ctx, u, nil, nil)
		if err != nil && !errors.Is(err, fsm.ErrSealExists) {
			return err
		}
		if created {
			return nil
		}
	}
}

// Initialise creates the seal of a new region with u, for a provider that
// cannot unseal a node by itself afterwards (shamir: u holds a fresh unseal
// key whose shares the caller hands out). It waits until this node leads a
// region without a seal, or until the region has one. prepare, if set, runs
// just before the seal is proposed (it prints the shares); created reports
// whether this node's seal is the region's, in which case the node is
// unsealed. When the region already has a seal the node stays sealed.
func (s *Service) Initialise(ctx context.Context, u Unsealer, shamir *fsm.ShamirParams, prepare func() error) (created bool, err error) {
	s.SetSealProvider(u.Name())
	for {
		if err := s.waitLease(ctx); err != nil {
			return false, err
		}
		if s.fsm.Seal() != nil {
			return false, nil
		}
		if !s.cluster.IsLeader() {
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return false, err
			}
			continue
		}
		created, err := s.initSeal(ctx, u, shamir, prepare)
		if errors.Is(err, fsm.ErrSealExists) {
			return false, nil
		}
		return created, err
	}
}

func (s *Service) waitLease(ctx context.Context) error {
	for {
		if s.cluster.ReadReady() == nil {
			return nil
		}
		if s.cluster.RenewLease(ctx) == nil {
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("kms: waiting for a read lease: %w", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// initSeal proposes a new region's seal and, once it is the region's,
// adopts the root key and first term: created is true. An Apply whose
// outcome is unknown (leadership lost) is settled by reading the seal back.
func (s *Service) initSeal(ctx context.Context, u Unsealer, shamir *fsm.ShamirParams, prepare func() error) (created bool, err error) {
	root, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return false, err
	}
	defer crypto.Zero(root)
	term, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return false, err
	}
	defer crypto.Zero(term)
	wrapped, err := u.Wrap(ctx, root, crypto.RootAAD(s.cfg.Region, u.Name()))
	if err != nil {
		return false, err
	}
	sealedTerm, err := crypto.Wrap(root, term, crypto.TermAAD(s.cfg.Region, 1))
	if err != nil {
		return false, err
	}
	check := crypto.RootCheck(root)
	cmd := &fsm.InitSeal{Req: s.req(ctx), Seal: fsm.Seal{
		WrappedRoot: map[string][]byte{u.Name(): wrapped},
		RootCheck:   check,
		Terms:       []fsm.Term{{Number: 1, Sealed: sealedTerm}},
		Shamir:      shamir,
	}}
	if prepare != nil {
		if err := prepare(); err != nil {
			return false, err
		}
	}
	err = s.cluster.Apply(ctx, cmd)
	if err != nil {
		var se *fsm.StateError
		if errors.As(err, &se) {
			return false, err
		}
		// Unknown outcome: the seal in the FSM, once caught up, says.
		if lerr := s.waitLease(ctx); lerr != nil {
			return false, errors.Join(err, lerr)
		}
		seal := s.fsm.Seal()
		if seal == nil || subtle.ConstantTimeCompare(seal.RootCheck, check) != 1 {
			return false, err
		}
	}
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	s.adoptLocked(root)
	s.keyring.Add(1, term)
	s.keyring.SetActive(1)
	s.unseal.loaded = 1
	return true, nil
}

// adoptLocked keeps a copy of the root key and marks the node unsealed;
// s.unseal.mu held.
func (s *Service) adoptLocked(root []byte) {
	crypto.Zero(s.unseal.root)
	s.unseal.root = append([]byte(nil), root...)
	check := crypto.RootCheck(root)
	s.unseal.opened.Store(&check)
	s.keyring.SetTermLoader(s.loadTerm)
	ch := s.unseal.unsealedCh()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// openSeal unwraps the root key with u, checks it and loads every keyring
// term; s.unseal.mu held.
func (s *Service) openSeal(ctx context.Context, seal *fsm.Seal, u Unsealer) error {
	wrapped, ok := seal.WrappedRoot[u.Name()]
	if !ok {
		return errorf(ErrInvalidState, "The region's root key is not wrapped for the unseal provider %q of this node (the region uses %s).", u.Name(), providerList(seal))
	}
	root, err := u.Unwrap(ctx, wrapped, crypto.RootAAD(s.cfg.Region, u.Name()))
	if err != nil {
		return fmt.Errorf("kms: unseal: wrong unseal key for region %s (or the data directory belongs to another region): %w", s.cfg.Region, err)
	}
	defer crypto.Zero(root)
	if !crypto.VerifyRootCheck(root, seal.RootCheck) {
		return errors.New("kms: unseal: root key check value does not match")
	}
	keys := make([][]byte, len(seal.Terms))
	defer func() {
		for _, k := range keys {
			crypto.Zero(k)
		}
	}()
	// Open every term before loading any, so a failure leaves the node
	// sealed rather than half open.
	for i, t := range seal.Terms {
		if keys[i], err = crypto.Unwrap(root, t.Sealed, crypto.TermAAD(s.cfg.Region, t.Number)); err != nil {
			return fmt.Errorf("kms: unseal: keyring term %d: %w", t.Number, err)
		}
	}
	for i, t := range seal.Terms {
		s.keyring.Add(t.Number, keys[i])
		s.unseal.loaded = max(s.unseal.loaded, t.Number)
	}
	s.keyring.SetActive(seal.Terms[len(seal.Terms)-1].Number)
	s.adoptLocked(root)
	return nil
}

func providerList(seal *fsm.Seal) string { return strings.Join(sortedProviders(seal), ", ") }

// Sealed reports whether the service still lacks its keyring.
func (s *Service) Sealed() bool { return s.keyring.Active() == 0 }

// CheckUnsealed returns the error every operation but the unseal ones gets
// from a sealed node: a retryable 5xx, so SDKs retry, and a load balancer
// that follows /readyz has already moved on.
func (s *Service) CheckUnsealed() error {
	if !s.Sealed() {
		return nil
	}
	return errorf(ErrSealed, "This kmsnode node is sealed: it serves no KMS operation until an operator unseals it (kmsctl unseal). Retry the request; another node of the region may serve it.")
}

// Close zeroes the root key, the keyring, cached material and any unseal
// or rekey shares held.
func (s *Service) Close() {
	s.secrets.forget()
	s.unseal.mu.Lock()
	crypto.Zero(s.unseal.root)
	s.unseal.root = nil
	s.clearSharesLocked()
	s.clearRekeyLocked()
	s.unseal.mu.Unlock()
	s.keyring.SetTermLoader(nil)
	s.keyring.Wipe()
	s.materials.forgetAll()
}

func (s *Service) clearSharesLocked() {
	clearShares(&s.unseal.shares)
	if s.unseal.sharesExpire != nil {
		s.unseal.sharesExpire.Stop()
		s.unseal.sharesExpire = nil
	}
}

// sealMaterial seals fresh key material for (keyID, version) under the
// newest keyring term.
func (s *Service) sealMaterial(keyID string, version uint32, material []byte) ([]byte, error) {
	if s.Sealed() {
		return nil, errorf(ErrSealed, "This node is sealed and cannot create key material.")
	}
	s.syncTerms()
	return s.keyring.SealMaterial(material, crypto.SealAAD{Region: s.cfg.Region, KeyID: keyID, Version: version, Purpose: purposeMaterial})
}

// newMaterial draws and seals a new material version.
func (s *Service) newMaterial(keyID string, version uint32, at int64, rotation string) (fsm.Material, error) {
	raw, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return fsm.Material{}, err
	}
	defer crypto.Zero(raw)
	sealed, err := s.sealMaterial(keyID, version, raw)
	if err != nil {
		return fsm.Material{}, err
	}
	return fsm.Material{Version: version, Sealed: sealed, CreatedAt: at, RotationType: rotation}, nil
}
