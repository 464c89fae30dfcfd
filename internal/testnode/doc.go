// Package testnode starts real kmsnode nodes in-process for tests, on a free
// loopback port with a temporary data directory, and gives an AWS SDK for Go
// v2 KMS client that signs with the node's development identity.
//
// Waiting is always polling with a deadline taken from the test; never a
// sleep used as synchronisation.
package testnode
