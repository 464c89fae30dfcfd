// Command kmsfill fills a kmsnode with keys through its real HTTP API, for
// `make bench-memory` (bench/memory.sh): it measures what a node holding
// many keys costs in memory, snapshot size and restart time.
//
//	kmsfill --endpoint http://127.0.0.1:8080 --region us-east-1 \
//	    --access-key-id AKIA... --keys 100000 --versions 3 --concurrency 32 \
//	    --json fill.json
//
// C workers take key numbers from a shared counter; for each key a worker
// calls CreateKey, then RotateKeyOnDemand V-1 times, so the key ends with V
// material versions (AWS, and kmsnode, allow at most 25 on-demand rotations
// per key: V ≤ 26). Every request is a raw `POST /` signed with SigV4
// (aws-sdk-go-v2 signer, service kms), as kmsbench sends them; no SDK client
// runs, so the client costs little CPU next to the node on a small machine.
// Each call carries an Amz-Sdk-Invocation-Id, as the SDK's do, kept across
// its retries, so a retried write is applied once.
//
// Answers 503 and throttling (HTTP 429, ThrottlingException) are retried
// with exponential backoff and jitter (at least the Retry-After the server
// asks for), up to --max-attempts; any other failure is counted by type,
// and a key whose CreateKey or rotation failed is left as it is. Progress
// goes to stderr every --progress; the summary (keys, versions, requests,
// retries, elapsed, rates, failures by type with a sample message) to
// stdout and, with --json, to a file. The exit status is 1 if any call
// failed, 130 if interrupted.
//
// Two helper commands serve bench/memory.sh:
//
//	kmsfill check --key-id ID --versions V [--timeout 2m]
//
// retries DescribeKey until it answers (503, throttling and connection
// errors are retried: the node may still be starting), checks the key is
// Enabled, and that ListKeyRotations (IncludeKeyMaterial=ALL_KEY_MATERIAL)
// lists V material versions; it prints how long that took.
//
//	kmsfill snapinfo PATH/state.bin
//
// prints, as JSON, what a kmsnode FSM snapshot file holds: its size, and the
// count and encoded bytes of its keys, aliases and remembered request IDs.
//
// The secret comes from --secret-access-key-file or AWS_SECRET_ACCESS_KEY,
// never from a flag value.
package main
