package api

import "context"

// statusRoute serves KmsNodeOperator.Status (kmsctl status): a summary of
// the node and its region from any node, authorized as kmsnode:Status. It
// changes nothing and is audited as read-only.
func statusRoute(o Operator) route {
	return route{maxBody: smallBody, handle: func(ctx context.Context, _ []byte) (any, error) {
		return o.Status(ctx)
	}}
}

func init() {
	// audit_params.go: operator calls that change no state.
	readOnlyOps["Status"] = true
	readOnlyOps["SnapshotSave"] = true
}
