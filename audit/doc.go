// Package audit records every kmsnode API call, allowed or denied, as a
// CloudTrail-shaped [Record], and delivers records to a [Handler]; [FileSink]
// appends them as JSON lines to a local file.
//
// It imports only the Go standard library. Invariants:
//
//   - A Record carries identifiers and outcome only: never a plaintext,
//     ciphertext, data key, key material, secret access key or session
//     token. The type has no byte-slice field to put one in (a test checks
//     this by reflection); the encryption context is the one caller-supplied
//     map, and it is logged because AWS logs it too (it is not secret).
//   - The JSON line of a Record ([Record.AppendJSON]) uses CloudTrail's
//     field names (eventTime, eventName, eventSource, awsRegion, requestID,
//     userIdentity, sourceIPAddress, userAgent, requestParameters,
//     resources, errorCode, errorMessage) plus kmsnode's own durationMs and
//     kmsnodeNode, so CloudTrail parsers read it. It is always valid JSON and
//     valid UTF-8, whatever the strings hold.
//   - Handlers are safe for concurrent use and do not block the caller for
//     long; a FileSink encodes on the caller's goroutine and writes on its
//     own.
//   - A FileSink never loses a record silently: a record that cannot be
//     queued or written makes Handle return an error or, when it was
//     already accepted, shows in [FileSink.Dropped]. The caller (the API)
//     decides whether to keep serving.
//
// Hash chaining of records and signed checkpoints (issue 4) are not here
// yet; the single writer goroutine of FileSink is where they go, since it
// alone sees records in file order (see FileSink.run).
package audit
