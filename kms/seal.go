package kms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
)

// Purposes bound into sealing AAD.
const (
	purposeMaterial = "key-material" // SealAAD.Purpose of key material
)

// Unseal makes the service able to serve crypto: it opens the region's root
// key with the unseal provider u and loads the keyring terms. On a new
// region (no seal in the FSM) the leader creates the hierarchy: a random
// root key and first term, wrapped by u and sealed, proposed as the first
// command. u is not retained.
func (s *Service) Unseal(ctx context.Context, u Unsealer) error {
	for {
		// The seal may sit in the log not yet replayed after a restart: a
		// lease proves the FSM has caught up with the leader.
		if err := s.waitLease(ctx); err != nil {
			return err
		}
		seal := s.fsm.Seal()
		if seal != nil {
			return s.openSeal(ctx, seal, u)
		}
		if !s.cluster.IsLeader() {
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if err := s.initSeal(ctx, u); err != nil && !errors.Is(err, fsm.ErrSealExists) {
			return err
		}
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

func (s *Service) initSeal(ctx context.Context, u Unsealer) error {
	root, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return err
	}
	defer crypto.Zero(root)
	term, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return err
	}
	defer crypto.Zero(term)
	wrapped, err := u.Wrap(ctx, root, crypto.RootAAD(s.cfg.Region, u.Name()))
	if err != nil {
		return err
	}
	sealedTerm, err := crypto.Wrap(root, term, crypto.TermAAD(s.cfg.Region, 1))
	if err != nil {
		return err
	}
	cmd := &fsm.InitSeal{Req: s.req(ctx), Seal: fsm.Seal{
		WrappedRoot: map[string][]byte{u.Name(): wrapped},
		RootCheck:   crypto.RootCheck(root),
		Terms:       []fsm.Term{{Number: 1, Sealed: sealedTerm}},
	}}
	return s.cluster.Apply(ctx, cmd)
}

func (s *Service) openSeal(ctx context.Context, seal *fsm.Seal, u Unsealer) error {
	wrapped, ok := seal.WrappedRoot[u.Name()]
	if !ok {
		return fmt.Errorf("kms: the region's root key is not wrapped for unseal provider %q", u.Name())
	}
	root, err := u.Unwrap(ctx, wrapped, crypto.RootAAD(s.cfg.Region, u.Name()))
	if err != nil {
		return fmt.Errorf("kms: unseal: wrong unseal key for region %s (or the data directory belongs to another region): %w", s.cfg.Region, err)
	}
	defer crypto.Zero(root)
	if !crypto.VerifyRootCheck(root, seal.RootCheck) {
		return errors.New("kms: unseal: root key check value does not match")
	}
	for _, t := range seal.Terms {
		key, err := crypto.Unwrap(root, t.Sealed, crypto.TermAAD(s.cfg.Region, t.Number))
		if err != nil {
			return fmt.Errorf("kms: unseal: keyring term %d: %w", t.Number, err)
		}
		s.keyring.Add(t.Number, key)
		crypto.Zero(key)
		s.keyring.SetActive(t.Number)
	}
	return nil
}

// Sealed reports whether the service still lacks its keyring.
func (s *Service) Sealed() bool { return s.keyring.Active() == 0 }

// Close zeroes the keyring and cached material.
func (s *Service) Close() {
	s.keyring.Wipe()
	s.materials.forgetAll()
}

// sealMaterial seals fresh key material for (keyID, version).
func (s *Service) sealMaterial(keyID string, version uint32, material []byte) ([]byte, error) {
	if s.Sealed() {
		return nil, errorf(ErrSealed, "This node is sealed and cannot create key material.")
	}
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
