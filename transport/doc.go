// Package transport owns the cluster port: one TLS 1.3 listener with mutual
// TLS against the region CA, demultiplexed by ALPN into the Raft stream layer
// (kms-raft/1) and the internal RPC service (kms-rpc/1); kms-xr/1 is reserved
// for cross-region replication.
//
// Trust comes from certificates, never from gossip or addresses: every node
// certificate carries a URI SAN kmsnode://<region>/node/<node-id> (see
// [Identity]). Both ends of every connection verify the peer's chain against
// the CA and check that the peer belongs to the same region; a refused
// handshake is logged with the remote address and the reason.
//
// Tests cut a node off with [Transport.Isolate], which closes every live
// cluster connection of the node and refuses new ones in both directions:
// real packets stop flowing, as with a network partition, without needing
// privileges for network namespaces.
package transport
