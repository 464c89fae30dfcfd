// Package node assembles one kmsnode process from a [Config]: the FSM, the
// region's Raft cluster, the unsealed KMS service, the HTTP API and the audit
// sink, started and stopped in order.
//
// Start order: data directory → node ID → FSM → cluster (Raft) → KMS
// service → unseal (waits for a read lease, initialises a new region's seal)
// → leader tasks → API listener. Close runs it backwards and zeroes the
// keyring. Tests start nodes in-process through this package.
package node
