// Command kmsctl is the operator's tool for kmsnode. Today it reports a
// node's health and readiness; cluster, identity, snapshot and audit
// commands arrive with the issues that build those parts.
//
//	kmsctl status --endpoint http://127.0.0.1:8080
package main
