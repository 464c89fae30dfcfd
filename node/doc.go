// Package node assembles one kmsnode process from a [Config]: the FSM, the
// region's Raft cluster, the unsealed KMS service, the HTTP API and the audit
// sink, started and stopped in order.
//
// Start order: data directory → node ID → FSM → cluster (Raft) → KMS
// service → unseal (waits for a read lease, initialises a new region's seal)
// → leader tasks → API listener. Close runs it backwards and zeroes the
// keyring. Tests start nodes in-process through this package.
//
// # Unseal provider shamir; keyring rotate and rekey
//
// seal=shamir (seal_shamir.go, sealed.go) is Vault's default seal: the
// unseal key exists only as --seal-shares shares (default 5) of which
// --seal-threshold (default 3) rebuild it (Shamir over GF(2^8),
// crypto/shamir.go). The first leader of a new region draws the key, wraps
// the root key with it, prints the shares once on standard output (never the
// log, never a file; Seal.Output) and zeroes the key; then it proposes the
// seal, so a region is never sealed with shares nobody saw. If the proposal
// fails the shares are declared void on the same output.
//
// Every other node, and every node after a restart, starts sealed: Start
// returns with the API up; the node answers /healthz, /readyz (503
// "sealed"), KmsNodeOperator.Unseal and SealStatus (both unsigned: a sealed
// node cannot open the identities' secrets, and the shares are the
// authentication) and refuses everything else with a retryable
// KMSInternalException saying it is sealed. Raft runs all along, so a sealed
// node votes, replicates and snapshots; its leader tasks (the scheduler)
// wait until it is unsealed. Operators unseal each node on its own:
//
//	kmsctl unseal --endpoint https://node1:8443   # prompts without echo; or --share-file F, or stdin
//	kmsctl seal-status --endpoint https://node1:8443
//
// The node keeps the shares in memory until the threshold, combines them,
// checks the result opens the root key (the root check) and zeroes them. A
// wrong set resets the progress and the node refuses shares for 1 s,
// doubling per further failure up to a minute. Unsealed, the node keeps the
// root key in memory (zeroed on Close), as Vault does: rotate and rekey
// need it.
//
// kmsnode operator rotate (signed, KmsNodeOperator.RotateKeyring) adds
// keyring term n+1, sealed under the root key, as one AddTerm command; every
// unsealed node seals new material under it once applied, and loads it on
// first sight of a blob that names it. Old terms stay to open old blobs.
//
// kmsnode operator rekey replaces the unseal key with one Rekey command,
// same root key and terms; the old key then opens nothing. With shamir,
// --shares N --threshold T starts a rekey on one node, a threshold of the
// current shares follows (--share-file, repeatable, or one per line on
// stdin; --nonce continues a rekey across operators), and the new shares
// are printed once. With file or env, --new-key-file sends the new 32-byte
// key to the node (use https); install it as every node's key before they
// next start. A rekey is per node and in memory (--status, --cancel).
//
// # Unseal provider pkcs11
//
// seal=pkcs11 keeps the unseal key in an HSM as a non-extractable AES-256
// secret key object, found by its label on a token (by label, or slot ID).
// The root key is wrapped inside the HSM with CKM_AES_GCM (random 12-byte
// IV, the region and provider as GCM additional data); the FSM stores
// iv ‖ ciphertext ‖ tag. The PIN comes from --seal-pkcs11-pin-file or
// KMSNODE_PKCS11_PIN (cleared once read), never a flag value. The provider
// needs cgo and a build with -tags pkcs11; the default build is pure Go and
// reports how to get it. Setup with SoftHSM2 (Debian: apt-get install
// softhsm2 opensc):
//
//	softhsm2-util --init-token --free --label kms --pin "$PIN" --so-pin "$SO_PIN"
//	pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --list-mechanisms | grep AES-GCM
//	pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label kms --login --pin "$PIN" \
//	    --keygen --key-type AES:32 --label kmsnode-root --sensitive
//	CGO_ENABLED=1 go build -tags pkcs11 -o bin/kmsnode ./cmd/kmsnode
//	kmsnode serve --seal pkcs11 --seal-pkcs11-lib /usr/lib/softhsm/libsofthsm2.so \
//	    --seal-pkcs11-token-label kms --seal-pkcs11-key-label kmsnode-root \
//	    --seal-pkcs11-pin-file /etc/kmsnode/pkcs11.pin ...
//
// or let a new region generate the key (CKA_TOKEN, CKA_SENSITIVE, not
// CKA_EXTRACTABLE) with --seal-pkcs11-create-key. Every node of the region
// needs the same key in its HSM (HSM cloning or backup, vendor-specific).
// The key's label must be unique on the token; an extractable key is
// accepted with a warning. The module is loaded once and initialised only
// for the duration of each wrap or unwrap.
//
// # Unseal provider kmsapi
//
// seal=kmsapi keeps the root key as the CiphertextBlob of an Encrypt call
// at another AWS-KMS-compatible endpoint (another kmsnode region, or AWS KMS
// when --seal-kmsapi-endpoint is empty), under --seal-kmsapi-key-id, with the
// encryption context {"kmsnode:purpose": "root-key", "kmsnode:aad":
// base64(region and provider)}. Each start makes one Decrypt call with the
// same context and the key ID pinned; nothing secret is stored locally, so
// that key's policy is the real guard of the region. Credentials come from
// --seal-kmsapi-credentials-file (AWS shared-credentials format, [default]
// profile) or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
// (the secret ones cleared once read); --seal-kmsapi-ca-file trusts a
// private CA. The endpoint must be https (plain http only on loopback):
// the root key travels in the request and response bodies. Calls time out
// after 10s per attempt and 30s overall, with at most 4 attempts; errors
// name the endpoint, the key and the AWS error code. Never let two regions
// auto-unseal from each other: if both are down, neither can start.
package node
