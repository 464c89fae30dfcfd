package api

import (
	"context"
	"fmt"

	"github.com/kmsnode/kmsnode/kms"
)

// GossipKeyringOperator is the gossip keyring administration of an Operator
// whose node belongs to a gossip pool (KmsNodeOperator.GossipKeyring). The
// call acts on the receiving node only; `kmsctl gossip-key` sends it to every
// node of the region in the safe order.
type GossipKeyringOperator interface {
	// GossipKeyring runs op ("list", "install", "use", "remove") with key
	// (32 bytes; nil for list) and returns the node's keyring as fingerprints.
	// It must not keep key: the caller wipes it.
	GossipKeyring(ctx context.Context, op string, key []byte) (any, error)
}

// gossipKeyringRequest is the body of KmsNodeOperator.GossipKeyring. Key is
// base64 in JSON, like every AWS blob.
type gossipKeyringRequest struct {
	Op  string `json:"Op"`
	Key []byte `json:"Key,omitempty"`
}

func (r *gossipKeyringRequest) Validate() error {
	switch r.Op {
	case "list":
		if r.Key != nil {
			return &kms.Error{Kind: kms.ErrValidation, Msg: "Key must be absent when Op is list."}
		}
	case "install", "use", "remove":
		if len(r.Key) != 32 {
			return &kms.Error{Kind: kms.ErrValidation, Msg: fmt.Sprintf("Key must be 32 bytes (base64) when Op is %s.", r.Op)}
		}
	case "":
		return &kms.Error{Kind: kms.ErrValidation, Msg: "Op is required: list, install, use or remove."}
	default:
		return &kms.Error{Kind: kms.ErrValidation, Msg: "Op must be list, install, use or remove."}
	}
	return nil
}

// gossipKeyringRoute serves KmsNodeOperator.GossipKeyring. The key never
// reaches a log line or an audit record: the record holds the operation
// and caller only, and the request buffer is zeroed after the call.
func gossipKeyringRoute(o Operator) route {
	return route{maxBody: smallBody, handle: func(ctx context.Context, body []byte) (any, error) {
		g, ok := o.(GossipKeyringOperator)
		if !ok {
			return nil, &kms.Error{Kind: kms.ErrUnsupported, Msg: "This node has no gossip keyring."}
		}
		var req gossipKeyringRequest
		err := decodeRequest(body, &req)
		defer clear(req.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errSerialization, err)
		}
		if err := req.Validate(); err != nil {
			return nil, err
		}
		return g.GossipKeyring(ctx, req.Op, req.Key)
	}}
}
