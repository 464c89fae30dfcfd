package kms

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// Unsealing a node with Shamir shares (Vault's sys/unseal model): shares
// arrive one call at a time, possibly from different operators; the node
// holds them in memory until it has the threshold, rebuilds the unseal key,
// opens the root key and forgets the shares. A wrong set fails the root
// check, resets the progress and makes the node refuse shares for a while.

// SealStatus is what a node tells anyone about its seal. It holds no
// secret: it is served without authentication.
type SealStatus struct {
	Sealed      bool
	Initialized bool   // the region has a seal (as far as this node knows)
	Provider    string // this node's unseal provider
	Threshold   int    // shamir: shares needed to unseal
	Shares      int    // shamir: shares issued
	Progress    int    // shamir: shares received toward an unseal
	Term        uint32 // active keyring term; 0 while sealed
	// RetryAfter is set while the node refuses shares after failures.
	RetryAfter time.Duration
}

// Back-off after a failed unseal or rekey attempt: 1 s, doubling per
// consecutive failure, at most 4 s. A set of shares is one guess at a
// 256-bit key, so this is not what protects it; it keeps an unauthenticated
// caller from flooding the node with attempts and its log with failures
// (the API's rate limit does the rest). It stays short on purpose: anyone
// may send shares, so a long back-off would let junk shares keep the
// operators out.
// shareTTL is how long unseal shares short of the threshold are kept (a
// variable for the test).
var shareTTL = 10 * time.Minute

const (
	unsealBackoff    = time.Second
	maxUnsealBackoff = 4 * time.Second
)

// SealStatus reports the node's seal state. A node that has not seen the
// region's seal yet (a restart replaying its log) first waits briefly to
// catch up, so it does not call an initialised region new.
func (s *Service) SealStatus(ctx context.Context) SealStatus {
	seal := s.fsm.Seal()
	if seal == nil {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s.catchUp(wctx)
		cancel()
		seal = s.fsm.Seal()
	}
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	return s.statusLocked(seal)
}

func (s *Service) statusLocked(seal *fsm.Seal) SealStatus {
	st := SealStatus{
		Sealed: s.Sealed(), Initialized: seal != nil, Provider: s.unseal.provider,
		Progress: len(s.unseal.shares), Term: s.keyring.Active(),
	}
	if seal != nil && seal.Shamir != nil {
		st.Threshold, st.Shares = seal.Shamir.Threshold, seal.Shamir.Shares
	}
	if d := time.Until(s.unseal.retryAt); d > 0 {
		st.RetryAfter = d
	}
	return st
}

// UnsealShare adds one Shamir share toward unsealing this node; reset first
// drops the shares received so far (a share may then be omitted). When the
// threshold is reached the node opens the root key and forgets the shares.
// share is the caller's buffer; it is not retained.
func (s *Service) UnsealShare(ctx context.Context, share []byte, reset bool) (SealStatus, error) {
	seal, err := s.sealForUnseal(ctx)
	if err != nil {
		return SealStatus{}, err
	}
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	// The newest seal, read under the lock: a rekey applied meanwhile must
	// not let the previous shares in.
	seal = s.fsm.Seal()
	if reset {
		s.clearSharesLocked()
	}
	if !s.Sealed() || (reset && len(share) == 0) {
		return s.statusLocked(seal), nil
	}
	if _, ok := seal.WrappedRoot[ShamirProvider]; !ok || seal.Shamir == nil {
		return SealStatus{}, errorf(ErrInvalidState, "This region is not sealed with Shamir shares (its unseal providers: %s); its nodes unseal from their configured key.", providerList(seal))
	}
	if err := s.backoffLocked(); err != nil {
		return SealStatus{}, err
	}
	if err := checkShare(share, seal.Shamir.Threshold, s.unseal.shares); err != nil {
		return SealStatus{}, err
	}
	s.unseal.shares = append(s.unseal.shares, append([]byte(nil), share...))
	if len(s.unseal.shares) < seal.Shamir.Threshold {
		if s.unseal.sharesExpire == nil {
			// Shares short of the threshold do not wait in memory forever.
			s.unseal.sharesExpire = time.AfterFunc(shareTTL, func() {
				s.unseal.mu.Lock()
				defer s.unseal.mu.Unlock()
				if len(s.unseal.shares) > 0 {
					s.log.Info("unseal progress expired: the shares given were dropped", "after", shareTTL)
				}
				s.clearSharesLocked()
			})
		}
		return s.statusLocked(seal), nil
	}
	kek, err := crypto.Combine(s.unseal.shares)
	s.clearSharesLocked()
	if err != nil {
		return SealStatus{}, s.failLocked("The unseal shares cannot be combined (%v).", err)
	}
	u := NewKEKUnsealer(ShamirProvider, kek)
	crypto.Zero(kek)
	err = s.openSeal(ctx, seal, u)
	u.Wipe()
	if err != nil {
		s.log.Warn("unseal with Shamir shares failed: the shares do not open the root key", "failures", s.unseal.failures+1)
		return SealStatus{}, s.failLocked("The unseal shares do not open this region's root key: not all of them are shares of its current unseal key (another region's, or from before a rekey?).")
	}
	s.unseal.failures, s.unseal.retryAt = 0, time.Time{}
	s.log.Info("node unsealed with Shamir shares", "term", s.keyring.Active())
	return s.statusLocked(seal), nil
}

// sealForUnseal returns the region's seal, waiting briefly for a lease when
// this node has not seen it yet (a node restarting replays its log first).
func (s *Service) sealForUnseal(ctx context.Context) (*fsm.Seal, error) {
	if seal := s.fsm.Seal(); seal != nil {
		return seal, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	caughtUp := s.catchUp(wctx)
	if seal := s.fsm.Seal(); seal != nil {
		return seal, nil
	}
	if caughtUp {
		return nil, errorf(ErrInvalidState, "The region is not initialised yet: its first leader creates the seal and prints the unseal shares.")
	}
	return nil, &Error{Kind: ErrNoLease, Msg: "This node has not caught up with its region yet, so it does not know the region's seal. Retry the request."}
}

// catchUp renews the read lease now, which brings the FSM up to the
// leader's commit index: a lease held already may predate the region's
// seal (bounded staleness), so "no seal" is only believed after this.
func (s *Service) catchUp(ctx context.Context) bool {
	for {
		if s.cluster.RenewLease(ctx) == nil {
			return true
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			return false
		}
	}
}

// backoffLocked refuses an attempt while the back-off after failures runs.
func (s *Service) backoffLocked() error {
	if d := time.Until(s.unseal.retryAt); d > 0 {
		return errorf(ErrLimitExceeded, "Too many failed unseal attempts on this node: retry in %s.", d.Round(100*time.Millisecond))
	}
	return nil
}

// failLocked counts a failed attempt, starts the back-off and returns the
// error the caller sees.
func (s *Service) failLocked(format string, args ...any) error {
	s.unseal.failures++
	d := unsealBackoff << min(s.unseal.failures-1, 6)
	s.unseal.retryAt = time.Now().Add(min(d, maxUnsealBackoff))
	return errorf(ErrIncorrectKey, "%s Progress was reset; this node accepts shares again in %s.", fmt.Sprintf(format, args...), min(d, maxUnsealBackoff))
}

// sortedProviders lists a seal's providers, sorted, for messages.
func sortedProviders(seal *fsm.Seal) []string {
	if seal == nil {
		return nil
	}
	out := make([]string, 0, len(seal.WrappedRoot))
	for name := range seal.WrappedRoot {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
