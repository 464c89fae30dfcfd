// Package sigv4 verifies AWS Signature Version 4 (SigV4) request
// signatures, the way AWS services do, so that unmodified AWS SDKs and the
// aws CLI can authenticate to kmsnode.
//
// A [Verifier] accepts both forms AWS clients produce:
//
//   - the Authorization header, "AWS4-HMAC-SHA256 Credential=AKID/20261123/
//     us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;
//     x-amz-target, Signature=<64 hex>", with the time in X-Amz-Date (or, as
//     AWS allows, the HTTP Date header) and an optional X-Amz-Security-Token;
//   - presigned query parameters (X-Amz-Algorithm, X-Amz-Credential,
//     X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature and
//     optionally X-Amz-Security-Token).
//
// It recomputes the signature exactly as AWS documents it:
//
//   - canonical request: method, canonical URI, canonical query string,
//     canonical headers, signed header list and hex SHA-256 of the body,
//     separated by newlines;
//   - canonical URI: the path as the client sent it (still percent-encoded),
//     with empty, "." and ".." segments removed, encoded again with every
//     byte but unreserved characters and '/' as %XX ("double encoding", as
//     for every service but S3);
//   - canonical query: every parameter decoded and re-encoded (space as
//     %20), sorted by encoded name and then value; for presigned requests
//     X-Amz-Signature is left out;
//   - canonical headers: the headers named in SignedHeaders, in that order,
//     names lowercased, values trimmed with runs of whitespace collapsed to
//     one space and repeated headers joined by ','; host is taken from
//     r.Host and content-length from r.ContentLength if the header map
//     lacks it;
//   - payload hash: SHA-256 of the body; for presigned requests
//     "UNSIGNED-PAYLOAD" when X-Amz-Content-Sha256 says so;
//   - string to sign: "AWS4-HMAC-SHA256", the request time, the credential
//     scope and the hex SHA-256 of the canonical request;
//   - signing key: HMAC-SHA256 chain over "AWS4"+secret, scope date, region,
//     service and "aws4_request".
//
// That is the canonical request of the AWS test suite, botocore (the aws
// CLI) and the JavaScript and Java SDKs. aws-sdk-go-v2 differs in two
// corners: it signs the path verbatim (no removal of dot and empty
// segments) and collapses only runs of spaces in header values, keeping
// tabs. Only when a request has such a path or header value is the
// signature also checked against those forms, so the common case costs one
// computation.
//
// Requests are rejected unless the credential scope has five elements, its
// date equals the date of the request time, its region equals
// [Options.Region] (when set), its service equals [Options.Service] and it
// ends in "aws4_request"; host is signed; and the request time is within
// [Options.MaxSkew] (5 minutes) of the server clock, or for presigned
// requests with X-Amz-Expires, not older than that many seconds. A
// credential with a session token requires the same X-Amz-Security-Token; a
// long-term key rejects any token.
//
// Every error wraps one of four sentinels ([ErrMissingAuth],
// [ErrIncompleteSignature], [ErrInvalidSignature], [ErrUnrecognizedClient])
// that the API layer maps to AWS exceptions, and [Message] returns the AWS
// wording to show the client.
//
// Invariants:
//
//   - Secrets never appear in errors, and values holding them or keys
//     derived from them ([Credential], the key cache) print redacted.
//   - Signatures and session tokens are compared in constant time.
//   - Verify never reads r.Body; the caller passes the body it read.
//   - Derived signing keys are cached per (secret, date, region, service),
//     keyed by a SHA-256 digest, in a bounded cache, and only after they
//     verified a signature.
//   - The hot path allocates nothing: buffers come from a sync.Pool and the
//     canonical request and string to sign are built in one of them.
//
// The package uses only the standard library.
package sigv4
