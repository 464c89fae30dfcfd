// Command kmsctl is the operator's tool for kmsnode. It reports a node's
// health and readiness, lists a region's members and removes a node;
// identity, snapshot and audit commands arrive with the issues that build
// those parts.
//
//	kmsctl status --endpoint http://127.0.0.1:8080
//	kmsctl members [--json]
//	kmsctl remove-node n3
//
// members and remove-node call kmsnode's operator operations
// (KmsNodeOperator.*) on the KMS endpoint, signed with SigV4 like any KMS
// call: the credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_SESSION_TOKEN, the region from --region, AWS_REGION or
// AWS_DEFAULT_REGION (`kmsnode dev` prints them), the endpoint from
// --endpoint or KMSNODE_ENDPOINT. --ca-file trusts a CA for an https
// endpoint. AWS errors print as "kmsctl: <Type>: <message>" and exit 1;
// usage errors exit 2.
package main
