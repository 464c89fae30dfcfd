package api

import (
	"context"
	"encoding/json"
	"io"

	"github.com/kmsnode/kmsnode/kms"
)

// operatorPrefix marks kmsnode's own operator operations, signed with SigV4
// like every KMS call (kmsctl members, kmsctl remove-node). They are not
// part of the AWS API. Until identities and policies land (security issue),
// any configured identity may call them; the audit log records each call.
const operatorPrefix = "KmsNodeOperator."

// Operator is the cluster administration the node exposes.
type Operator interface {
	// Members lists the region's nodes.
	Members(ctx context.Context) (any, error)
	// RemoveNode removes a node from the region.
	RemoveNode(ctx context.Context, nodeID string) error
	// Status summarises the node and its region (operator_status.go).
	Status(ctx context.Context) (any, error)
	// SaveSnapshot takes a backup of the region's state; RestoreSnapshot
	// replaces the state by the archive read from body
	// (operator_snapshot.go).
	SaveSnapshot(ctx context.Context) (SnapshotStream, error)
	RestoreSnapshot(ctx context.Context, body io.Reader, force bool) (any, error)
}

type removeNodeRequest struct {
	NodeID string `json:"NodeId"`
}

func (r removeNodeRequest) Validate() error {
	if r.NodeID == "" || len(r.NodeID) > 64 {
		return &kms.Error{Kind: kms.ErrValidation, Msg: "NodeId must be 1 to 64 characters."}
	}
	return nil
}

// operatorRoutes are the operator operations, keyed like the KMS routes
// but with the operator prefix.
func operatorRoutes(o Operator) map[string]route {
	return map[string]route{
		operatorPrefix + "GossipKeyring": gossipKeyringRoute(o), // operator_gossip.go
		operatorPrefix + "Status":        statusRoute(o),        // operator_status.go
		operatorPrefix + "SnapshotSave":  snapshotSaveRoute(o),  // operator_snapshot.go
		operatorPrefix + "ListMembers": {maxBody: smallBody, handle: func(ctx context.Context, _ []byte) (any, error) {
			m, err := o.Members(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]any{"Members": m}, nil
		}},
		operatorPrefix + "RemoveNode": {maxBody: smallBody, handle: func(ctx context.Context, body []byte) (any, error) {
			var req removeNodeRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return nil, errSerialization
			}
			if err := req.Validate(); err != nil {
				return nil, err
			}
			return struct{}{}, o.RemoveNode(ctx, req.NodeID)
		}},
	}
}
