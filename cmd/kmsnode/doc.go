// Command kmsnode runs a kmsnode key service node.
//
//	kmsnode dev     one node on 127.0.0.1 with a development identity
//	kmsnode serve   a node configured by flags and the environment
//
// Flags only: the logic lives in package node.
package main
