package kms

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// Rekey replaces the unseal key (`kmsnode operator rekey`, design-notes
// §5.2): the same root key and terms, wrapped under a new key, applied as
// one Rekey command; the old unseal key no longer opens the region.
//
//   - shamir, Vault's model: RekeyInit names the new share set; a threshold
//     of the current shares arrives by RekeyUpdate (proving their holders
//     agree); the node draws the new unseal key, wraps the root key under
//     it and returns the new shares once. The rekey lives in this node's
//     memory: all its calls go to the same node.
//   - file and env: RekeyKEK wraps the root key under the 32-byte key the
//     operator sends (over TLS); the operator installs that key on every
//     node before their next start.

// rekeyState is a Shamir rekey in progress; s.unseal.mu guards it.
type rekeyState struct {
	nonce     string
	shares    int      // the new set
	threshold int      // the new set
	collected [][]byte // current shares received
}

// RekeyStatus describes a Shamir rekey. Shares is set only by the call that
// completes it: the new shares, shown once.
type RekeyStatus struct {
	Nonce        string
	Threshold    int // current shares needed
	Progress     int // current shares received
	NewShares    int
	NewThreshold int
	Complete     bool
	Shares       [][]byte
}

// kekProviders are the providers whose unseal key an operator can hand over
// as 32 bytes (RekeyKEK). shamir has its own flow; pkcs11 and kmsapi keys
// never leave their device or service.
var kekProviders = map[string]bool{"file": true, "env": true}

// RekeyInit starts a Shamir rekey to a set of shares of which threshold
// rebuild the new unseal key.
func (s *Service) RekeyInit(_ context.Context, shares, threshold int) (RekeyStatus, error) {
	params := &fsm.ShamirParams{Shares: shares, Threshold: threshold}
	if !params.Valid() {
		return RekeyStatus{}, errorf(ErrValidation, "The new share set must have 2 <= threshold <= shares <= 255; got %d shares with threshold %d.", shares, threshold)
	}
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	seal, err := s.shamirSealLocked()
	if err != nil {
		return RekeyStatus{}, err
	}
	if r := s.unseal.rekey; r != nil {
		return RekeyStatus{}, errorf(ErrConflict, "A rekey is already in progress on this node (nonce %s): complete it or cancel it first.", r.nonce)
	}
	s.unseal.rekey = &rekeyState{nonce: NewRequestID(), shares: shares, threshold: threshold}
	s.log.Info("Shamir rekey started", "shares", shares, "threshold", threshold)
	return s.rekeyStatusLocked(seal), nil
}

// RekeyStatus reports the rekey in progress, if any.
func (s *Service) RekeyStatus(context.Context) (RekeyStatus, bool) {
	seal := s.fsm.Seal()
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	if s.unseal.rekey == nil || seal == nil {
		return RekeyStatus{}, false
	}
	return s.rekeyStatusLocked(seal), true
}

// RekeyCancel drops the rekey in progress and the shares it collected.
func (s *Service) RekeyCancel(context.Context) {
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	s.clearRekeyLocked()
}

// RekeyUpdate adds one current share to the rekey named by nonce. At the
// threshold it checks the shares open the root key, draws the new unseal
// key, applies the Rekey and returns the new shares. The caller zeroes
// them once delivered.
func (s *Service) RekeyUpdate(ctx context.Context, nonce string, share []byte) (RekeyStatus, error) {
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	seal, err := s.shamirSealLocked()
	if err != nil {
		return RekeyStatus{}, err
	}
	r := s.unseal.rekey
	if r == nil || subtle.ConstantTimeCompare([]byte(r.nonce), []byte(nonce)) != 1 {
		return RekeyStatus{}, errorf(ErrNotFound, "No rekey with nonce %q is in progress on this node.", nonce)
	}
	if err := s.backoffLocked(); err != nil {
		return RekeyStatus{}, err
	}
	if err := checkShare(share, seal.Shamir.Threshold, r.collected); err != nil {
		return RekeyStatus{}, err
	}
	r.collected = append(r.collected, append([]byte(nil), share...))
	if len(r.collected) < seal.Shamir.Threshold {
		return s.rekeyStatusLocked(seal), nil
	}
	kek, err := crypto.Combine(r.collected)
	clearShares(&r.collected)
	if err != nil {
		return RekeyStatus{}, s.failLocked("The shares cannot be combined (%v).", err)
	}
	root, err := crypto.Unwrap(kek, seal.WrappedRoot[ShamirProvider], crypto.RootAAD(s.cfg.Region, ShamirProvider))
	crypto.Zero(kek)
	ok := err == nil && subtle.ConstantTimeCompare(root, s.unseal.root) == 1
	crypto.Zero(root)
	if !ok {
		s.log.Warn("Shamir rekey: the shares do not open the root key", "failures", s.unseal.failures+1)
		return RekeyStatus{}, s.failLocked("The shares do not open this region's root key: they are not shares of its current unseal key.")
	}
	s.unseal.failures = 0
	shares, err := s.rewrapShamirLocked(ctx, seal, r)
	if err != nil {
		return RekeyStatus{}, err
	}
	st := s.rekeyStatusLocked(seal)
	st.Threshold, st.Progress, st.Complete, st.Shares = r.threshold, 0, true, shares
	s.unseal.rekey = nil
	s.log.Info("Shamir rekey complete: the previous unseal shares no longer open the region", "shares", r.shares, "threshold", r.threshold)
	return st, nil
}

// rewrapShamirLocked draws the new unseal key, applies the Rekey and
// returns its shares; s.unseal.mu held.
func (s *Service) rewrapShamirLocked(ctx context.Context, seal *fsm.Seal, r *rekeyState) ([][]byte, error) {
	kek, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return nil, err
	}
	defer crypto.Zero(kek)
	wrapped, err := crypto.Wrap(kek, s.unseal.root, crypto.RootAAD(s.cfg.Region, ShamirProvider))
	if err != nil {
		return nil, err
	}
	shares, err := crypto.Split(kek, r.shares, r.threshold)
	if err != nil {
		return nil, err
	}
	params := &fsm.ShamirParams{Shares: r.shares, Threshold: r.threshold}
	if err := s.applyRekey(ctx, seal, ShamirProvider, wrapped, params); err != nil {
		clearShares(&shares)
		return nil, err
	}
	return shares, nil
}

// RekeyKEK wraps the root key under kek, a new 32-byte unseal key of
// provider (file or env; "" is this node's provider). kek is the caller's.
func (s *Service) RekeyKEK(ctx context.Context, provider string, kek []byte) (string, error) {
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	if provider == "" {
		provider = s.unseal.provider
	}
	if !kekProviders[provider] {
		return "", errorf(ErrValidation, "Provider %q takes no unseal key from the operator: give file or env (a shamir region rekeys with RekeyInit and its shares).", provider)
	}
	if len(kek) != crypto.KeySize {
		return "", errorf(ErrValidation, "NewKey must be 32 bytes (base64 text of 32 random bytes); got %d bytes.", len(kek))
	}
	if subtle.ConstantTimeCompare(kek, make([]byte, crypto.KeySize)) == 1 {
		return "", errorf(ErrValidation, "NewKey is all zeros: draw it from a random source.")
	}
	if s.unseal.root == nil {
		return "", s.CheckUnsealed()
	}
	seal := s.fsm.Seal()
	if seal == nil {
		return "", errorf(ErrInvalidState, "The region is not initialised yet.")
	}
	wrapped, err := crypto.Wrap(kek, s.unseal.root, crypto.RootAAD(s.cfg.Region, provider))
	if err != nil {
		return "", err
	}
	if err := s.applyRekey(ctx, seal, provider, wrapped, nil); err != nil {
		return "", err
	}
	s.log.Info("unseal key replaced: the previous key no longer opens the region", "provider", provider)
	return provider, nil
}

// applyRekey proposes the Rekey that replaces provider's wrapped root key
// in seal by wrapped.
func (s *Service) applyRekey(ctx context.Context, seal *fsm.Seal, provider string, wrapped []byte, params *fsm.ShamirParams) error {
	cmd := &fsm.Rekey{
		Req:      fsm.Req{ID: NewRequestID(), At: s.now()},
		Provider: provider, WrappedRoot: wrapped, RootCheck: seal.RootCheck,
		Shamir: params, Previous: seal.WrappedRoot[provider],
	}
	err := s.applySeal(ctx, cmd, func(now *fsm.Seal) bool {
		return subtle.ConstantTimeCompare(now.WrappedRoot[provider], wrapped) == 1
	})
	if errors.Is(err, fsm.ErrConflict) {
		return errorf(ErrConflict, "The region's unseal key changed while this rekey ran (another rekey?). Start again.")
	}
	return err
}

// shamirSealLocked returns the seal of an unsealed node of a Shamir region.
func (s *Service) shamirSealLocked() (*fsm.Seal, error) {
	if s.unseal.root == nil {
		return nil, s.CheckUnsealed()
	}
	seal := s.fsm.Seal()
	if seal == nil || seal.Shamir == nil || seal.WrappedRoot[ShamirProvider] == nil {
		return nil, errorf(ErrInvalidState, "This region has no Shamir unseal key (its providers: %s); rekey it with a new key file instead.", providerList(seal))
	}
	return seal, nil
}

func (s *Service) rekeyStatusLocked(seal *fsm.Seal) RekeyStatus {
	r := s.unseal.rekey
	st := RekeyStatus{Nonce: r.nonce, Progress: len(r.collected), NewShares: r.shares, NewThreshold: r.threshold}
	if seal.Shamir != nil {
		st.Threshold = seal.Shamir.Threshold
	}
	return st
}

func (s *Service) clearRekeyLocked() {
	if s.unseal.rekey != nil {
		clearShares(&s.unseal.rekey.collected)
		s.unseal.rekey = nil
	}
}

// checkShare validates a share against a share set of threshold and the
// shares already given.
func checkShare(share []byte, threshold int, have [][]byte) error {
	if len(share) == 0 {
		return errorf(ErrValidation, "Key is required: give an unseal share.")
	}
	th, x, err := crypto.CheckShare(share, crypto.KeySize)
	if err != nil {
		return errorf(ErrValidation, "Key is not an unseal share of kmsnode: it must be the base64 text printed when the region was initialised or rekeyed.")
	}
	if th != threshold {
		return errorf(ErrValidation, "Key is a share of a set with threshold %d, but this region's unseal key needs %d shares: it belongs to another share set.", th, threshold)
	}
	for _, h := range have {
		if int(h[2]) != x {
			continue
		}
		if subtle.ConstantTimeCompare(h, share) == 1 {
			return errorf(ErrValidation, "Share %d was already given; give another share.", x)
		}
		return errorf(ErrValidation, "A different share numbered %d was already given: the shares come from different sets. Start again.", x)
	}
	return nil
}

// clearShares zeroes and drops a list of shares.
func clearShares(shares *[][]byte) {
	for _, sh := range *shares {
		crypto.Zero(sh)
	}
	*shares = nil
}
