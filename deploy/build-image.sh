#!/usr/bin/env bash
# deploy/build-image.sh — the recipe of `make image` (deploy/README.md).
#
# The image is FROM scratch and nothing may be pulled, so the build context
# is assembled here from the host: the static binaries (bin/kmsnode,
# bin/kmsctl, built by `make build`), the host's CA bundle, a passwd/group
# naming the unprivileged user 65532, /tmp and an empty /data.
#
# Environment: IMAGE (name:tag), IMAGE_NAME (also tagged :latest), VERSION,
# CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt), BIN (default bin).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${IMAGE:?}" "${IMAGE_NAME:?}" "${VERSION:?}"
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
BIN=${BIN:-bin}

[ -s "$CA_BUNDLE" ] || { echo "image: no CA bundle at $CA_BUNDLE (set CA_BUNDLE)" >&2; exit 1; }
for b in kmsnode kmsctl; do
  [ -x "$BIN/$b" ] || { echo "image: $BIN/$b is missing (make build)" >&2; exit 1; }
done

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/tmp" "$ctx/data"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0700 "$ctx/data"
cp "$BIN/kmsnode" "$BIN/kmsctl" "$ctx/"
cp "$CA_BUNDLE" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/:/sbin/nologin\nkmsnode:x:65532:65532:kmsnode:/data:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nkmsnode:x:65532:\n' >"$ctx/rootfs/etc/group"
chmod 0644 "$ctx/rootfs/etc/passwd" "$ctx/rootfs/etc/group" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"

docker build --pull=false -f deploy/Dockerfile \
  --build-arg VERSION="$VERSION" --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$IMAGE" -t "$IMAGE_NAME:latest" "$ctx"
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
echo "built $IMAGE and $IMAGE_NAME:latest, $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')"
