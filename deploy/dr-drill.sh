#!/usr/bin/env bash
# dr-drill.sh: a disaster-recovery drill on this machine (deploy/DR.md).
#
# It starts region A (3 kmsnode processes on 127.0.0.1), gives it a key, an
# alias, an identity and ciphertexts, saves a snapshot through a follower
# while writes go on, verifies the file offline, then destroys region A
# (SIGKILL, data deleted). It starts region B from nothing (new CA, new
# nodes, the same region name and unseal key), restores the snapshot and
# checks with the aws CLI that every node of B decrypts A's ciphertexts and
# that A's identity works there. Exit 0 means the drill passed.
#
#   bash deploy/dr-drill.sh            (after make build; needs the aws CLI)
#   KEEP=1 bash deploy/dr-drill.sh     keep the work directory for a look
#   PORT_BASE=29000 bash deploy/dr-drill.sh
#
# The development identity of `kmsnode dev` signs the operator calls: this is
# a drill of the procedure, not a production layout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KMSNODE=${KMSNODE:-$ROOT/bin/kmsnode}
KMSCTL=${KMSCTL:-$ROOT/bin/kmsctl}
PORT_BASE=${PORT_BASE:-28000}
REGION=us-east-1
ACCOUNT=111122223333
export AWS_ACCESS_KEY_ID=AKIAKMSNODEDEVELOPER
export AWS_SECRET_ACCESS_KEY='kmsnode/dev/secret/access/key/not+for+production'
export AWS_DEFAULT_REGION=$REGION AWS_REGION=$REGION
unset AWS_SESSION_TOKEN AWS_PROFILE
NODES=(n1 n2 n3)

die() {
	echo "dr-drill: FAILED: $*" >&2
	exit 1
}
step() { echo "== $(date -u +%H:%M:%S) $*"; }

[[ -x $KMSNODE && -x $KMSCTL ]] || die "bin/kmsnode and bin/kmsctl are missing: run 'make build'"
command -v aws >/dev/null || die "the aws CLI is needed"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kmsnode-dr-drill.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
	if [[ ${KEEP:-} == 1 ]]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# Ports: region A and B use the same ones (B replaces A).
api_port() { echo $((PORT_BASE + 80 + ${1#n})); }
cluster_port() { echo $((PORT_BASE + 300 + ${1#n})); }
gossip_port() { echo $((PORT_BASE + 500 + ${1#n})); }
endpoint() { echo "http://127.0.0.1:$(api_port "$1")"; }

# Secrets live apart from the data and from the snapshots.
umask 077
mkdir -p "$WORK/secrets" "$WORK/backups"
head -c 32 /dev/urandom | base64 >"$WORK/secrets/unseal.key"
printf '%s\n' "$AWS_SECRET_ACCESS_KEY" >"$WORK/secrets/operator-secret"

# region NAME: a CA and node certificates of its own.
make_pki() {
	local dir=$WORK/$1 n
	"$KMSNODE" operator tls ca --out "$dir/ca" --name "dr drill $1" >/dev/null
	for n in "${NODES[@]}"; do
		"$KMSNODE" operator tls node --ca-dir "$dir/ca" --out "$dir/certs" --region "$REGION" \
			--node-id "$n" --host 127.0.0.1 >/dev/null
	done
}

start_region() {
	local name=$1 dir=$WORK/$1 n m join
	make_pki "$name"
	for n in "${NODES[@]}"; do
		join=()
		for m in "${NODES[@]}"; do
			[[ $m == "$n" ]] || join+=(--join "127.0.0.1:$(gossip_port "$m")")
		done
		"$KMSNODE" serve --region "$REGION" --account-id "$ACCOUNT" --data-dir "$dir/$n" \
			--api-addr "127.0.0.1:$(api_port "$n")" \
			--access-key-id "$AWS_ACCESS_KEY_ID" --secret-access-key-file "$WORK/secrets/operator-secret" \
			--seal file --seal-key-file "$WORK/secrets/unseal.key" \
			--cluster-addr "127.0.0.1:$(cluster_port "$n")" --cluster-ca-file "$dir/ca/ca.pem" \
			--cluster-cert-file "$dir/certs/$n.pem" --cluster-key-file "$dir/certs/$n-key.pem" \
			--gossip-addr "127.0.0.1:$(gossip_port "$n")" --gossip-key-file "$dir/ca/gossip.key" \
			"${join[@]}" --bootstrap-expect 3 </dev/null >>"$dir/$n.log" 2>&1 &
		PIDS+=($!)
		eval "${name}_$n=$!"
	done
	local deadline=$((SECONDS + 60)) ready
	while :; do
		ready=0
		for n in "${NODES[@]}"; do
			"$KMSCTL" health "$(endpoint "$n")" >/dev/null 2>&1 && ready=$((ready + 1))
		done
		((ready == 3)) && break
		((SECONDS < deadline)) || die "region $name: only $ready of 3 nodes ready after 60s (logs in $dir)"
		sleep 0.5
	done
}

# leader prints the node ID of the leader, follower one of the others.
leader() { "$KMSCTL" status --endpoint "$(endpoint n1)" --json | sed -n 's/.*"LeaderId":"\([^"]*\)".*/\1/p'; }
follower() {
	local l n
	l=$(leader)
	for n in "${NODES[@]}"; do [[ $n == "$l" ]] || {
		echo "$n"
		return
	}; done
}

kms() { aws --endpoint-url "$1" kms "${@:2}"; }

step "starting region A (3 nodes)"
start_region A
step "region A: a key, an alias, an identity, ciphertexts"
KEY=$(kms "$(endpoint n1)" create-key --description "dr drill" --query KeyMetadata.KeyId --output text)
kms "$(endpoint n2)" create-alias --alias-name alias/dr-drill --target-key-id "$KEY"
printf 'recover me' >"$WORK/plain.txt"
kms "$(endpoint n3)" encrypt --key-id alias/dr-drill --plaintext "fileb://$WORK/plain.txt" \
	--encryption-context app=drill --query CiphertextBlob --output text | base64 -d >"$WORK/ct.bin"
printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}' >"$WORK/app-policy.json"
"$KMSCTL" identity create app --policy-file "$WORK/app-policy.json" --endpoint "$(endpoint n1)" >"$WORK/secrets/app.txt"
APP_AKID=$(sed -n 's/.*AWS_ACCESS_KEY_ID=\([^[:space:]]*\).*/\1/p' "$WORK/secrets/app.txt")
APP_SECRET=$(sed -n 's/.*AWS_SECRET_ACCESS_KEY=\([^[:space:]]*\).*/\1/p' "$WORK/secrets/app.txt")
[[ -n $APP_AKID && -n $APP_SECRET ]] || die "kmsctl identity create printed no key"

step "saving a snapshot through a follower while writes go on"
(
	i=0
	while [[ ! -e $WORK/stop-load ]]; do
		kms "$(endpoint n1)" create-key --description "load $i" --query KeyMetadata.KeyId --output text >>"$WORK/load-keys.txt" || exit 1
		i=$((i + 1))
	done
) &
LOAD=$!
while [[ ! -s $WORK/load-keys.txt ]]; do sleep 0.2; done
cp "$WORK/load-keys.txt" "$WORK/acked-before-save.txt"
F=$(follower)
"$KMSCTL" snapshot save "$WORK/backups/region-a.snap" --endpoint "$(endpoint "$F")"
touch "$WORK/stop-load"
wait "$LOAD" || die "the write load failed"
step "verifying the backup offline"
"$KMSCTL" snapshot inspect "$WORK/backups/region-a.snap"

step "DISASTER: region A is lost (SIGKILL, data deleted)"
for n in "${NODES[@]}"; do
	v=A_$n
	kill -KILL "${!v}"
	wait "${!v}" 2>/dev/null || true
done
rm -rf "$WORK/A"

step "starting region B from nothing (new CA, new nodes, same region name and unseal key)"
start_region B
"$KMSCTL" status --endpoint "$(endpoint n1)"
step "restoring the snapshot into region B (through any node)"
"$KMSCTL" snapshot restore "$WORK/backups/region-a.snap" --endpoint "$(endpoint "$(follower)")"

step "checking every node of region B"
for n in "${NODES[@]}"; do
	deadline=$((SECONDS + 30))
	until out=$(kms "$(endpoint "$n")" decrypt --ciphertext-blob "fileb://$WORK/ct.bin" \
		--encryption-context app=drill --query Plaintext --output text 2>"$WORK/decrypt.err"); do
		((SECONDS < deadline)) || die "node $n cannot decrypt region A's ciphertext: $(cat "$WORK/decrypt.err")"
		sleep 0.5
	done
	[[ $(printf '%s' "$out" | base64 -d) == "recover me" ]] || die "node $n decrypted something else"
	got=$(kms "$(endpoint "$n")" describe-key --key-id alias/dr-drill --query KeyMetadata.KeyId --output text)
	[[ $got == "$KEY" ]] || die "node $n: alias/dr-drill is $got, not $KEY"
	AWS_ACCESS_KEY_ID=$APP_AKID AWS_SECRET_ACCESS_KEY=$APP_SECRET \
		kms "$(endpoint "$n")" decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --encryption-context app=drill \
		--query KeyId --output text >/dev/null || die "node $n: region A's identity cannot decrypt"
	echo "node $n: decrypts region A's ciphertext, alias and identity work"
done
while read -r k; do
	kms "$(endpoint n2)" describe-key --key-id "$k" --query KeyMetadata.KeyId --output text >/dev/null ||
		die "key $k, acknowledged before the save, is missing"
done <"$WORK/acked-before-save.txt"
echo "all $(wc -l <"$WORK/acked-before-save.txt") keys acknowledged before the save are there"
"$KMSCTL" status --all --endpoint "$(endpoint n1)"
step "drill passed"
