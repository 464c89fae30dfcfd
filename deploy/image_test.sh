#!/usr/bin/env bash
# Smoke test of the container image (make image-test).
#
# Builds the image with `make image`, checks `kmsnode version` and the image
# metadata, then runs a real standalone `kmsnode serve` in a container on a
# user-defined network, with a test CA and node certificate made by
# `kmsnode operator tls` (itself run in the image), a random unseal key and a
# secret access key file, and drives it over HTTPS with the aws CLI:
# create-key, an encrypt/decrypt round trip, then a restart of the container
# on the same data volume and a decrypt of the earlier ciphertext.
# Containers, network, volume and temporary files are removed on exit; the
# image tags are kept. Without a Docker engine it prints "skipped" and exits 0.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if ! docker info >/dev/null 2>&1; then
	echo "image-test: skipped: no Docker engine (docker info failed)"
	exit 0
fi
command -v aws >/dev/null || {
	echo "image-test: the aws CLI is needed" >&2
	exit 1
}

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
IMAGE_NAME=${IMAGE_NAME:-kmsnode}
IMAGE=${IMAGE:-$IMAGE_NAME:$VERSION}
REGION=us-east-1
ACCOUNT=111122223333
AKID=AKIAKMSNODEIMAGETEST
TAG=kmsnode-imgtest-$$
NET=$TAG-net
VOL=$TAG-data
NODE=$TAG-node
TMP=$(mktemp -d)
STEP=setup

cleanup() {
	local rc=$?
	if ((rc != 0)); then
		echo "image-test: FAILED at: $STEP" >&2
		if docker container inspect "$NODE" >/dev/null 2>&1; then
			echo "--- logs of $NODE:" >&2
			docker logs --tail 40 "$NODE" >&2 || true
		fi
	fi
	docker rm -f "$NODE" >/dev/null 2>&1 || true
	docker network rm "$NET" >/dev/null 2>&1 || true
	docker volume rm "$VOL" >/dev/null 2>&1 || true
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
	STEP=$*
	echo "== $*"
}
fail() {
	echo "image-test: $*" >&2
	exit 1
}

step "build $IMAGE (make image)"
make --no-print-directory image IMAGE="$IMAGE" IMAGE_NAME="$IMAGE_NAME" VERSION="$VERSION" >"$TMP/build.log" 2>&1 ||
	{
		tail -n 30 "$TMP/build.log" >&2
		fail "make image failed"
	}
tail -n 1 "$TMP/build.log"

step "image metadata"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
layers=$(docker image inspect -f '{{len .RootFS.Layers}}' "$IMAGE")
echo "image $IMAGE: $(awk -v s="$size" 'BEGIN{printf "%.1f MB (%d bytes)", s/1e6, s}'), $layers layers, user $user"
[[ $user == 65532:65532 ]] || fail "the image runs as '$user', want 65532:65532"
docker image inspect -f '{{json .Config.ExposedPorts}} volumes {{json .Config.Volumes}}' "$IMAGE"
docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}} {{index .Config.Labels "org.opencontainers.image.revision"}}' "$IMAGE"

step "kmsnode version / help / kmsctl version"
out=$(docker run --rm "$IMAGE" version)
echo "$out"
[[ $out == "kmsnode $VERSION" ]] || fail "kmsnode version printed '$out', want 'kmsnode $VERSION'"
docker run --rm "$IMAGE" >/dev/null || fail "the default command (help) failed"
docker run --rm --entrypoint /usr/local/bin/kmsctl "$IMAGE" version

step "test PKI with kmsnode operator tls (in the image)"
mkdir -p "$TMP/pki" "$TMP/secrets"
chmod 0777 "$TMP/pki" # written by the image's user 65532
docker run --rm -v "$TMP/pki:/pki" "$IMAGE" operator tls ca --out /pki/ca --name "kmsnode image test CA" >/dev/null
docker run --rm -v "$TMP/pki:/pki" "$IMAGE" operator tls node --ca-dir /pki/ca --out /pki/certs \
	--region "$REGION" --node-id n1 --host 127.0.0.1 --host localhost --host "$NODE" >/dev/null
# Test secrets only, readable by the container user (a real deployment would
# give them to uid 65532 with mode 0400, or use a secret store).
head -c 32 /dev/urandom | base64 >"$TMP/secrets/unseal.key"
head -c 30 /dev/urandom | base64 >"$TMP/secrets/secret"
chmod 0755 "$TMP/secrets"
chmod 0644 "$TMP/secrets/unseal.key" "$TMP/secrets/secret"
docker network create "$NET" >/dev/null
docker volume create "$VOL" >/dev/null

start_node() {
	docker run -d --name "$NODE" --network "$NET" -p 127.0.0.1::8443 \
		-v "$VOL:/data" -v "$TMP/pki:/pki:ro" -v "$TMP/secrets:/secrets:ro" \
		"$IMAGE" serve \
		--region "$REGION" --account-id "$ACCOUNT" --data-dir /data \
		--api-addr 0.0.0.0:8443 \
		--tls-cert-file /pki/certs/n1.pem --tls-key-file /pki/certs/n1-key.pem \
		--seal file --seal-key-file /secrets/unseal.key \
		--access-key-id "$AKID" --secret-access-key-file /secrets/secret >/dev/null
	PORT=$(docker port "$NODE" 8443/tcp | head -n 1)
	PORT=${PORT##*:}
	ENDPOINT=https://127.0.0.1:$PORT
	local i
	for ((i = 0; i < 120; i++)); do
		if curl -fsS --max-time 2 --cacert "$TMP/pki/ca/ca.pem" -o /dev/null "$ENDPOINT/readyz" 2>/dev/null; then
			echo "node ready at $ENDPOINT (container $NODE, network $NET) after $((i / 4)).$((i % 4 * 25))s"
			return 0
		fi
		[[ $(docker inspect -f '{{.State.Running}}' "$NODE") == true ]] || fail "the node container exited"
		sleep 0.25
	done
	fail "the node was not ready after 30s"
}

AWS_SECRET_ACCESS_KEY=$(<"$TMP/secrets/secret")
export AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=$REGION
unset AWS_PROFILE AWS_SESSION_TOKEN
kms() { aws --endpoint-url "$ENDPOINT" --ca-bundle "$TMP/pki/ca/ca.pem" kms "$@"; }

step "kmsnode serve in a container (HTTPS on 0.0.0.0:8443, data on volume $VOL)"
start_node
docker logs "$NODE" 2>/dev/null | head -n 2

step "aws kms create-key"
KEY=$(kms create-key --description "image test" --query KeyMetadata.KeyId --output text)
echo "key $KEY"
kms describe-key --key-id "$KEY" --query 'KeyMetadata.[Arn,KeyState]' --output text

step "encrypt / decrypt round trip"
printf 'kmsnode image test %s' "$TAG" >"$TMP/plain"
kms encrypt --key-id "$KEY" --plaintext "fileb://$TMP/plain" --query CiphertextBlob --output text >"$TMP/ct.b64"
base64 -d "$TMP/ct.b64" >"$TMP/ct"
kms decrypt --ciphertext-blob "fileb://$TMP/ct" --query Plaintext --output text | base64 -d >"$TMP/plain2"
cmp -s "$TMP/plain" "$TMP/plain2" || fail "decrypt returned something else than the plaintext"
echo "round trip ok ($(wc -c <"$TMP/ct") bytes of ciphertext)"

step "the API is reachable by name on the user-defined network (kmsctl members in the image)"
docker run --rm --network "$NET" -v "$TMP/pki:/pki:ro" \
	-e AWS_ACCESS_KEY_ID="$AKID" -e AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
	--entrypoint /usr/local/bin/kmsctl "$IMAGE" \
	members --endpoint "https://$NODE:8443" --region "$REGION" --ca-file /pki/ca/ca.pem

step "restart on the same volume, decrypt the earlier ciphertext"
docker stop -t 20 "$NODE" >/dev/null
docker rm "$NODE" >/dev/null
start_node
kms decrypt --ciphertext-blob "fileb://$TMP/ct" --query Plaintext --output text | base64 -d >"$TMP/plain3"
cmp -s "$TMP/plain" "$TMP/plain3" || fail "decrypt after the restart returned something else"
echo "decrypt after restart ok; key state $(kms describe-key --key-id "$KEY" --query KeyMetadata.KeyState --output text)"

STEP=done
echo "image-test: PASS ($IMAGE, $(awk -v s="$size" 'BEGIN{printf "%.1f MB", s/1e6}'))"
