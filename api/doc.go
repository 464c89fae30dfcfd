// Package api is kmsnode's AWS-compatible HTTP front end: AWS JSON 1.1 over
// `POST /` with `X-Amz-Target: TrentService.<Op>`, every request SigV4-signed.
//
// A request goes: size limit → SigV4 ([sigv4.Verifier]) → route lookup
// (routes.go, one table) → JSON decode into the api/wire shape → the
// model's constraints (wire Validate) → the operation in package kms →
// JSON response, or one AWS error from the single error table (errors.go).
// Every call, allowed or refused, produces one audit record.
//
// Invariants: nothing a client sends can crash the node (handlers recover
// and answer KMSInternalException); error bodies are
// {"__type": ..., "message": ...} with AWS's status codes and the
// x-amzn-ErrorType header; plaintexts and data keys in requests and
// responses are zeroed once written; no secret reaches a log or an audit
// record.
package api
