package kms

import (
	"bytes"
	"context"
	"errors"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// Keyring rotation (`kmsnode operator rotate`, design-notes §5.2): a new
// keyring term, sealed under the root key, is added to the region's seal by
// one AddTerm command. Every unsealed node then seals new material under it;
// older terms stay loaded to open what they sealed. Only an unsealed node
// can propose it, since sealing the term needs the root key.

// KeyringRotation is the result of RotateKeyring.
type KeyringRotation struct {
	Term  uint32 // the new active term
	Terms int    // terms the region holds
}

// rotateAttempts bounds how often RotateKeyring retries after losing a race
// with another rotation (AddTerm numbers must follow each other).
const rotateAttempts = 5

// RotateKeyring adds keyring term n+1 and makes it this node's active term;
// the other nodes switch to it as they apply the command.
func (s *Service) RotateKeyring(ctx context.Context) (KeyringRotation, error) {
	if err := s.CheckUnsealed(); err != nil {
		return KeyringRotation{}, err
	}
	var err error
	for range rotateAttempts {
		if err = s.waitLease(ctx); err != nil {
			return KeyringRotation{}, err
		}
		var cmd *fsm.AddTerm
		if cmd, err = s.newTerm(); err != nil {
			return KeyringRotation{}, err
		}
		err = s.applySeal(ctx, cmd, func(seal *fsm.Seal) bool {
			last := seal.Terms[len(seal.Terms)-1]
			return last.Number == cmd.Term.Number && bytes.Equal(last.Sealed, cmd.Term.Sealed)
		})
		if errors.Is(err, fsm.ErrConflict) {
			continue // another rotation took the number; draw the next
		}
		if err != nil {
			return KeyringRotation{}, err
		}
		s.syncTerms()
		s.log.Info("keyring rotated", "term", cmd.Term.Number)
		return KeyringRotation{Term: cmd.Term.Number, Terms: len(s.fsm.Seal().Terms)}, nil
	}
	return KeyringRotation{}, errorf(ErrConflict, "Other keyring rotations kept taking the next term number. Retry the request.")
}

// newTerm draws term key n+1 and seals it under the root key.
func (s *Service) newTerm() (*fsm.AddTerm, error) {
	seal := s.fsm.Seal()
	if seal == nil {
		return nil, errorf(ErrInvalidState, "The region is not initialised yet.")
	}
	key, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return nil, err
	}
	defer crypto.Zero(key)
	n := seal.Terms[len(seal.Terms)-1].Number + 1
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	if s.unseal.root == nil {
		return nil, s.CheckUnsealed()
	}
	sealed, err := crypto.Wrap(s.unseal.root, key, crypto.TermAAD(s.cfg.Region, n))
	if err != nil {
		return nil, err
	}
	return &fsm.AddTerm{
		// A fresh request ID per attempt: a retry after a conflict is a
		// new command, not a replay of the rejected one.
		Req:       fsm.Req{ID: NewRequestID(), At: s.now()},
		Term:      fsm.Term{Number: n, Sealed: sealed},
		RootCheck: seal.RootCheck,
	}, nil
}

// applySeal proposes a seal command. When the outcome is unknown (the
// leader changed under it), it catches up and asks committed whether the
// seal now shows the change. FSM rejections come back as they are.
func (s *Service) applySeal(ctx context.Context, cmd fsm.Command, committed func(*fsm.Seal) bool) error {
	err := s.cluster.Apply(ctx, cmd)
	var se *fsm.StateError
	if err == nil || errors.As(err, &se) {
		return err
	}
	if lerr := s.waitLease(ctx); lerr != nil {
		return errors.Join(err, lerr)
	}
	if seal := s.fsm.Seal(); seal != nil && committed(seal) {
		return nil
	}
	return err
}

// syncTerms loads the keyring terms the region's seal holds beyond those
// this node has, and makes the newest active. It is cheap when nothing is
// new (no lock), so sealing calls it every time.
func (s *Service) syncTerms() {
	seal := s.fsm.Seal()
	if seal == nil || len(seal.Terms) == 0 {
		return
	}
	last := seal.Terms[len(seal.Terms)-1].Number
	if s.keyring.Active() >= last {
		return
	}
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	if s.unseal.root == nil || s.unseal.loaded >= last {
		return
	}
	for _, t := range seal.Terms {
		if t.Number <= s.unseal.loaded {
			continue
		}
		key, err := crypto.Unwrap(s.unseal.root, t.Sealed, crypto.TermAAD(s.cfg.Region, t.Number))
		if err != nil {
			// The AddTerm carried this root's check value, so this is
			// corruption, not a race; seals keep using the older term.
			s.log.Error("cannot open a new keyring term", "term", t.Number, "err", err)
			return
		}
		s.keyring.Add(t.Number, key)
		crypto.Zero(key)
		s.unseal.loaded = t.Number
	}
	s.keyring.SetActive(last)
}

// loadTerm is the keyring's term loader: a blob names a term added since
// this node unsealed (sealed by another node), so load the new terms.
func (s *Service) loadTerm(term uint32) bool {
	s.syncTerms()
	s.unseal.mu.Lock()
	defer s.unseal.mu.Unlock()
	return s.unseal.root != nil && s.unseal.loaded >= term
}
