// Package audit records every kmsnode API call, allowed or denied, as a
// CloudTrail-shaped [Record], delivers records to a [Handler], keeps them
// in a tamper-evident log ([FileSink]) and checks such a log ([Verify]).
//
// It imports only the Go standard library. Invariants:
//
//   - A Record carries identifiers, the allowlisted request members and
//     the outcome only: never a plaintext, ciphertext, data key, key
//     material, secret access key or unseal share. The type has no byte
//     field to put one in (a test checks this by reflection); the request
//     members are an [Object] that only an [ObjectBuilder] makes, from the
//     API's allowlist (api/audit_params.go, tested over every request
//     shape).
//   - The JSON line of a Record ([Record.AppendJSON]) is a CloudTrail KMS
//     event (eventVersion 1.08, userIdentity, eventTime, eventSource
//     kms.amazonaws.com, eventName, requestParameters, responseElements,
//     requestID, eventID, readOnly, resources, eventType, managementEvent,
//     recipientAccountId) with kmsnode's node, region and durationMs under
//     additionalEventData, so CloudTrail parsers read it. It is always valid
//     JSON and valid UTF-8, whatever the strings hold.
//   - The log is a hash chain (chain.go, DESIGN.md 20): every line ends
//     with "seq" and "prev" (the SHA-256 of the line before); every file
//     and every reopening starts with a header; signed checkpoints (Ed25519,
//     the node's audit key, sealed under the region keyring) vouch for all
//     lines before them. [Verify] finds a changed, removed, reordered or
//     forged line and names its file, line and seq.
//   - Handlers are safe for concurrent use and do not block the caller for
//     long; a FileSink encodes on the caller's goroutine and chains, signs
//     and writes on its own, the one place that sees lines in file order.
//   - A FileSink never loses a record silently: one it cannot queue makes
//     Handle return an error, one lost later shows in [FileSink.Dropped],
//     and while the file cannot be written [FileSink.Err] says so, which
//     the API turns into refusing every call (fail closed). The loss
//     window of the batched writes is stated on FileSink.
package audit
