package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/kmsnode/kmsnode/fsm"
	"github.com/kmsnode/kmsnode/kms"
)

// Sealed start (design-notes §5.2). A provider whose Unsealer implements
// sealedStarter cannot open the root key by itself (shamir): Start returns
// with the API up and the node sealed. It serves only /healthz, /readyz
// (503 "sealed") and the unseal operations until operators unseal it; Raft
// runs all along (it replicates, votes and snapshots: FSM Apply never needs
// the root key). The leader tasks wait until the node is unsealed, so a
// sealed leader proposes nothing that needs sealing (automatic rotation);
// writes sent to it are refused with a retryable error by the API.
//
// Providers that unseal by themselves (file, env, pkcs11, kmsapi) do not
// implement it and keep the blocking start.

// sealedStarter is implemented by the Unsealer of a provider that starts
// sealed. startsSealed returns the share set of a new region and a function
// that hands the new unseal key out (prints the shares) before the region's
// seal is proposed.
type sealedStarter interface {
	kms.Unsealer
	startsSealed() (params *fsm.ShamirParams, announce func(region string) error)
	Wipe()
}

// startSealed runs a sealed node's background work: if the region is new
// and this node leads it, create the seal (this node is then unsealed) and
// the root identity; otherwise wait, sealed, for the unseal operations. It
// owns u and wipes it.
func (n *Node) startSealed(u sealedStarter) {
	ctx, cancel := context.WithCancel(context.Background())
	n.sealedStop, n.sealedDone = cancel, make(chan struct{})
	params, announce := u.startsSealed()
	go func() {
		defer close(n.sealedDone)
		defer u.Wipe()
		announced := false
		created, err := n.kms.Initialise(ctx, u, params, func() error {
			if err := announce(n.cfg.Region); err != nil {
				return err
			}
			announced = true
			return nil
		})
		switch {
		case created:
			n.log.Info("region initialised with Shamir unseal shares; this node is unsealed", "shares", params.Shares, "threshold", params.Threshold)
			n.sealOutput("kmsnode: region %s initialised; this node is unsealed.\n", n.cfg.Region)
			if err := n.createRootIdentity(ctx, true); err != nil { // created: a new region
				n.log.Error("cannot create the root identity of the new region", "err", err)
			}
			if f := n.cfg.Seal.Initialised; f != nil {
				f(n)
			}
		case announced && errors.Is(err, context.Canceled):
			// Stopped while proposing the seal: the outcome is unknown.
			n.sealOutput("kmsnode: the node stopped while initialising region %s: the unseal shares printed above are valid only if the region is initialised ('kmsctl seal-status' says initialized true).\n", n.cfg.Region)
		case announced:
			// The shares were printed, but another seal won or the
			// proposal failed: say they are void.
			n.sealOutput("kmsnode: the unseal shares printed above are VOID: the region was not initialised with them (%v). Use the shares of the region's seal.\n", errOrOther(err))
			n.log.Warn("unseal shares printed but not used", "err", err)
		case err != nil && !errors.Is(err, context.Canceled):
			n.log.Error("sealed node: cannot initialise or read the region's seal; it stays sealed", "err", err)
		default:
			n.log.Info("node is sealed: unseal it with 'kmsctl unseal' and a threshold of the region's shares")
		}
	}()
}

func errOrOther(err error) error {
	if err == nil {
		return errors.New("another node initialised the region first")
	}
	return err
}

// sealOutput writes a notice next to the shares (not secret).
func (n *Node) sealOutput(format string, args ...any) {
	if w := n.cfg.Seal.Output; w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// stopSealed ends the sealed node's background work before Raft closes.
func (n *Node) stopSealed() {
	if n.sealedStop != nil {
		n.sealedStop()
		<-n.sealedDone
	}
}

// runLeaderTasks is the leader task of every node: the scheduler (key
// deletion, automatic rotation) runs only once the node is unsealed.
func (n *Node) runLeaderTasks(ctx context.Context) {
	select {
	case <-n.kms.Unsealed():
	case <-ctx.Done():
		return
	}
	n.kms.RunScheduler(ctx, n.cfg.SchedulerInterval)
}

// Sealed reports whether the node is sealed (it then serves only the
// unseal operations).
func (n *Node) Sealed() bool { return n.kms.Sealed() }
