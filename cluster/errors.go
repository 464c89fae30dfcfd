package cluster

import "errors"

// Errors callers map to AWS errors. All are retryable by the client.
var (
	// ErrNoLeader: no leader could take the write within the apply timeout.
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrNoLease: this node cannot prove its state is fresh enough to serve.
	ErrNoLease = errors.New("cluster: no read lease")
	// ErrClosed: the node is shutting down.
	ErrClosed = errors.New("cluster: closed")
)

// ErrUnknownNode: no member of the region has that node ID.
var ErrUnknownNode = errors.New("cluster: no such node in the region")

// ErrUpgradeInProgress: the command belongs to a newer command level than
// the region runs at; some node runs an older release (cluster/level.go).
var ErrUpgradeInProgress = errors.New("cluster: the region is being upgraded")
