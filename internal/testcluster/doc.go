// Package testcluster starts regions of several real nodes in one test
// process: each node has its own data directory, cluster port (mutual TLS
// with certificates from a per-test CA), gossip port and HTTP API, and the
// tests talk to them with the AWS SDK over SigV4. Nodes can be stopped,
// restarted, added and cut off from their peers (transport isolation).
package testcluster
