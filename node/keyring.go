package node

import (
	"context"
	"errors"

	"github.com/kmsnode/kmsnode/cluster"
	"github.com/kmsnode/kmsnode/kms"
)

// GossipKeyring implements api.GossipKeyringOperator on the node's gossip
// pool, translating the cluster's refusals into the API's error kinds.
func (o operator) GossipKeyring(_ context.Context, op string, key []byte) (any, error) {
	kr, err := o.c.GossipKeyring(op, key)
	switch {
	case err == nil:
		return kr, nil
	case errors.Is(err, cluster.ErrNoGossip):
		return nil, &kms.Error{Kind: kms.ErrUnsupported, Msg: "This node runs without a gossip pool (standalone); it has no gossip keyring."}
	case errors.Is(err, cluster.ErrBadGossipKey):
		return nil, &kms.Error{Kind: kms.ErrValidation, Msg: "Key must be 32 bytes."}
	case errors.Is(err, cluster.ErrGossipKeyNotInstalled):
		return nil, &kms.Error{Kind: kms.ErrNotFound, Msg: "The key " + cluster.GossipKeyFingerprint(key) + " is not installed on node " + kr.NodeID + "; install it first."}
	case errors.Is(err, cluster.ErrGossipKeyInUse):
		return nil, &kms.Error{Kind: kms.ErrInvalidState, Msg: "The key " + cluster.GossipKeyFingerprint(key) + " is the one node " + kr.NodeID + " seals gossip with; use another key first."}
	case errors.Is(err, cluster.ErrGossipKeyringFull):
		return nil, &kms.Error{Kind: kms.ErrLimitExceeded, Msg: "The gossip keyring of node " + kr.NodeID + " is full; remove a key first."}
	}
	return nil, err
}
