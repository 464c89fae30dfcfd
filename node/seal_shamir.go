package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/kmsnode/kmsnode/crypto"
	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/kms"
)

// The shamir unseal provider (design-notes §5.2, Vault's default seal): the
// unseal key exists only as n shares of which t rebuild it. A new region's
// first leader draws it, wraps the root key with it, prints the shares once
// and forgets it. Every node then starts sealed and is unsealed by
// operators giving it t shares (KmsNodeOperator.Unseal, kmsctl unseal).

func init() { unsealProviders[kms.ShamirProvider] = shamirUnsealer }

// Default share set, as Vault's.
const (
	DefaultSealShares    = 5
	DefaultSealThreshold = 3
)

// shamirInit is the provider's Unsealer. It holds a fresh random unseal key
// used only if this node initialises a new region; a node of an existing
// region is unsealed with shares and never uses it.
type shamirInit struct {
	kek       []byte
	shares    int
	threshold int
	out       io.Writer
}

func shamirUnsealer(c *Config, fresh bool) (kms.Unsealer, bool, error) {
	n, t := c.Seal.Shares, c.Seal.Threshold
	if n == 0 {
		n = DefaultSealShares
	}
	if t == 0 {
		t = DefaultSealThreshold
	}
	if p := (&fsm.ShamirParams{Shares: n, Threshold: t}); !p.Valid() {
		return nil, false, fmt.Errorf("node: seal shamir needs 2 <= threshold <= shares <= 255 (got %d shares, threshold %d)", n, t)
	}
	if fresh && c.Seal.Output == nil {
		// This node may create the region: its shares must have somewhere
		// to go (kmsnode serve prints them on standard output).
		return nil, false, errors.New("node: seal shamir on a new region needs Seal.Output to print the unseal shares to")
	}
	kek, err := crypto.Random(crypto.KeySize)
	if err != nil {
		return nil, false, err
	}
	return &shamirInit{kek: kek, shares: n, threshold: t, out: c.Seal.Output}, false, nil
}

// Name implements kms.Unsealer.
func (u *shamirInit) Name() string { return kms.ShamirProvider }

// Wrap implements kms.Unsealer: the root key under the new unseal key.
func (u *shamirInit) Wrap(_ context.Context, root, aad []byte) ([]byte, error) {
	return crypto.Wrap(u.kek, root, aad)
}

// Unwrap implements kms.Unsealer. Only the node that drew this key could
// open anything with it; every other unseal goes through shares.
func (u *shamirInit) Unwrap(_ context.Context, wrapped, aad []byte) ([]byte, error) {
	return crypto.Unwrap(u.kek, wrapped, aad)
}

// Wipe zeroes the unseal key.
func (u *shamirInit) Wipe() { crypto.Zero(u.kek) }

// startsSealed implements sealedStarter.
func (u *shamirInit) startsSealed() (*fsm.ShamirParams, func(region string) error) {
	return &fsm.ShamirParams{Shares: u.shares, Threshold: u.threshold}, u.announce
}

// announce prints the shares to the configured output (standard output by
// default), never to the log or a file. It runs before the seal is
// proposed: shares that cannot be shown must not seal a region.
func (u *shamirInit) announce(region string) error {
	shares, err := crypto.Split(u.kek, u.shares, u.threshold)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range shares {
			crypto.Zero(s)
		}
	}()
	w := u.out
	if w == nil {
		return errors.New("node: seal shamir has no output to print the unseal shares to")
	}
	// Room for everything up front: a growing buffer would leave copies of
	// shares behind.
	text := make([]byte, 0, 1024+u.shares*80)
	text = fmt.Appendf(text, "\nkmsnode: region %s is new; its unseal key is split into %d Shamir shares:\n\n", region, u.shares)
	for i, s := range shares {
		text = fmt.Appendf(text, "  Unseal share %d: ", i+1)
		text = base64.StdEncoding.AppendEncode(text, s)
		text = append(text, '\n')
	}
	text = fmt.Appendf(text, `
Any %d of these %d shares unseal a node; fewer reveal nothing. They are shown
ONCE, here, and kmsnode stores them nowhere (not in its log, not on disk); if
this output is captured (docker logs, journald), remove them from there. Give
each to a different operator now. After a restart every node of the region starts
sealed and serves nothing until %d shares are given to it with 'kmsctl unseal'.

`, u.threshold, u.shares, u.threshold)
	_, err = w.Write(text)
	crypto.Zero(text)
	if err != nil {
		return fmt.Errorf("node: cannot print the unseal shares: %w", err)
	}
	return nil
}
