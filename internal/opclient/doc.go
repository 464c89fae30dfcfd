// Package opclient is the client of kmsnode's own operator operations
// (X-Amz-Target KmsNodeOperator.*, api/operator*.go), shared by kmsctl and
// `kmsnode operator`: the connection flags, SigV4 signing with the AWS
// environment credentials, and reading AWS-shaped error answers. Unseal and
// SealStatus are sent unsigned (a sealed node cannot check a signature);
// every other operation is signed.
package opclient
