// Command kmsctl is the operator's tool for kmsnode. It summarises a node
// and its region (status), lists a region's members and removes a node,
// manages identities, unseals, verifies audit logs, and saves, inspects and
// restores backups of a region (snapshot; deploy/DR.md).
//
//	kmsctl status --endpoint http://127.0.0.1:8080 [--all] [--json]
//	kmsctl snapshot save FILE | inspect FILE | restore FILE [--force]
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
