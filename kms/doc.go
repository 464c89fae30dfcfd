// Package kms implements the AWS KMS operations: one file per operation,
// taking and returning the api/wire shapes (already checked against the
// model's constraints by package api).
//
// Each operation validates what the model cannot express, resolves the key
// (key ID, key ARN, alias name or alias ARN), then either
//
//   - runs a crypto operation locally from the FSM and crypto/, gated by the
//     node's read lease (no Raft round trip), or
//   - prepares a change (new IDs, times from the injected clock, material
//     sealed under the region keyring) and proposes it through cluster.Apply;
//     the FSM re-checks state so concurrent changes resolve the same way on
//     every node.
//
// Domain errors are defined once in errors.go; package api maps them to AWS
// exception names. Messages in [Error] are what the client sees, so they
// follow AWS's wording and never contain plaintext or key material.
package kms
