#!/usr/bin/env bash
# Two kmsnode regions of three nodes each in containers (docker-compose.yml).
#
#   deploy/compose/compose.sh up              create .state/ if needed, start, wait until ready
#   deploy/compose/compose.sh status          containers, health and endpoints
#   deploy/compose/compose.sh env REGION      export lines for the aws CLI (root credentials, CA)
#   deploy/compose/compose.sh down [--purge]  stop and remove the containers; --purge also
#                                             deletes the volumes and .state/
#
# `make compose-up` builds the image first (make image). Environment:
#   KMSNODE_IMAGE        image to run (default kmsnode:latest)
#   KMS_COMPOSE_PROJECT  compose project name (default kmsnode)
#   KMS_COMPOSE_STATE    certificates, keys and captured credentials (default deploy/compose/.state)
#   WAIT_READY           seconds `up` waits for every node (default 120)
#
# .state/<region>/ holds the region CA and its key (ca/), the gossip key, the
# node certificates (certs/), the unseal key and, once captured from the logs
# of the node that created the region, the account root's credentials
# (root.env). It is a demonstration layout: in production the CA key stays
# offline and the unseal key in a secret store (deploy/README.md).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export KMSNODE_IMAGE=${KMSNODE_IMAGE:-kmsnode:latest}
PROJECT=${KMS_COMPOSE_PROJECT:-kmsnode}
STATE=${KMS_COMPOSE_STATE:-$HERE/.state}
export KMS_COMPOSE_STATE=$STATE
WAIT_READY=${WAIT_READY:-120}

REGIONS=(us-east-1 eu-west-1)
declare -A NODES=([us-east-1]="e1 e2 e3" [eu-west-1]="w1 w2 w3")
declare -A LB=([us-east-1]=lb-us-east-1 [eu-west-1]=lb-eu-west-1)
# Host ports published by docker-compose.yml.
declare -A PORT=([lb-us-east-1]=18440 [e1]=18441 [e2]=18442 [e3]=18443
	[lb-eu-west-1]=18450 [w1]=18451 [w2]=18452 [w3]=18453)
NODE_UID=65532 # the image's user

die() {
	echo "compose.sh: $*" >&2
	exit 1
}

if docker compose version >/dev/null 2>&1; then
	COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
	COMPOSE=(docker-compose)
else
	COMPOSE=()
fi
dc() { "${COMPOSE[@]}" -p "$PROJECT" -f "$HERE/docker-compose.yml" "$@"; }

need_docker() {
	docker info >/dev/null 2>&1 || die "no Docker engine answers (docker info failed)"
	((${#COMPOSE[@]})) || die "neither 'docker compose' nor docker-compose is installed"
}

endpoint() { echo "https://127.0.0.1:${PORT[$1]}"; }

# share makes a file readable by the containers' user and nobody else on
# the host but its owner: as root, by giving it to uid 65532; otherwise the
# file must be world-readable and the 0700 state directory keeps others out
# (a bind-mounted file is reached in the container without its parents).
share() {
	if ((EUID == 0)); then
		chown "$NODE_UID:$NODE_UID" "$@"
		chmod 0400 "$@"
	else
		chmod 0444 "$@"
	fi
}

# init_region creates what is missing of a region's CA, gossip key, node
# certificates and unseal key. The CA and certificates come from
# `kmsnode operator tls` run in the image as the calling user.
init_region() {
	local r=$1 dir=$STATE/$1 n
	mkdir -p "$dir"
	chmod 0700 "$STATE" "$dir"
	tls() { docker run --rm --user "$(id -u):$(id -g)" -v "$dir:/state" "$KMSNODE_IMAGE" operator tls "$@" >/dev/null; }
	if [[ ! -f $dir/ca/ca.pem ]]; then
		if compgen -G "$dir/certs/*.pem" >/dev/null; then
			die "$dir/certs holds certificates but the CA is missing: run '$0 down --purge' and start over"
		fi
		rm -rf "$dir/ca"
		tls ca --out /state/ca --name "kmsnode $r CA (compose)"
		share "$dir/ca/gossip.key"
		chmod 0644 "$dir/ca/ca.pem"
	fi
	for n in ${NODES[$r]}; do
		if [[ ! -f $dir/certs/$n.pem || ! -f $dir/certs/$n-key.pem ]]; then
			rm -f "$dir/certs/$n.pem" "$dir/certs/$n-key.pem"
			# The names clients use: the published 127.0.0.1 port, the
			# container name on the api network, and the balancer (TLS
			# passes through it to the node).
			tls node --ca-dir /state/ca --out /state/certs --region "$r" --node-id "$n" \
				--host 127.0.0.1 --host localhost --host "$n" --host "${LB[$r]}"
			share "$dir/certs/$n-key.pem"
			chmod 0644 "$dir/certs/$n.pem"
		fi
	done
	if [[ ! -s $dir/unseal.key ]]; then
		# Every node of a region opens the same root key with it.
		(umask 077 && head -c 32 /dev/urandom | base64 >"$dir/unseal.key.tmp")
		share "$dir/unseal.key.tmp"
		mv "$dir/unseal.key.tmp" "$dir/unseal.key"
	fi
}

# ready succeeds when node $1 answers 200 on /readyz over HTTPS, checked
# against its region's CA ($2).
ready() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 2 --cacert "$2" "$(endpoint "$1")/readyz" 2>/dev/null
	else
		local id
		id=$(dc ps -q "$1") && [[ -n $id ]] &&
			[[ $(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id") == healthy ]]
	fi
}

# capture_root saves the root credentials that the node which created region
# $1 printed once, if they were not saved yet.
capture_root() {
	local r=$1 file=$STATE/$1/root.env akid="" secret="" deadline
	[[ -s $file ]] && return 0
	deadline=$((SECONDS + 30))
	while :; do
		# "  AWS_ACCESS_KEY_ID=…" under "The region is new…", prefixed by compose.
		local logs
		logs=$(dc logs --no-color ${NODES[$r]} 2>/dev/null || true)
		akid=$(sed -n 's/.*[| ] *AWS_ACCESS_KEY_ID=\([A-Z0-9]*\).*/\1/p' <<<"$logs" | head -n 1)
		secret=$(sed -n 's/.*[| ] *AWS_SECRET_ACCESS_KEY=\([^[:space:]]*\).*/\1/p' <<<"$logs" | head -n 1)
		[[ -n $akid && -n $secret ]] && break
		if ((SECONDS >= deadline)); then
			echo "compose.sh: WARNING: no root credentials in the logs of region $r (were its containers recreated after it was created?);" >&2
			echo "  without them, only a region created anew (down --purge, up) gives you credentials" >&2
			return 0
		fi
		sleep 1
	done
	(
		umask 077
		printf 'export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_DEFAULT_REGION=%s\nexport AWS_CA_BUNDLE=%s\n' \
			"$akid" "$secret" "$r" "$STATE/$r/ca/ca.pem" >"$file.tmp"
		mv "$file.tmp" "$file"
	)
	CAPTURED+=("$r")
}

cmd_up() {
	need_docker
	docker image inspect "$KMSNODE_IMAGE" >/dev/null 2>&1 || die "no image $KMSNODE_IMAGE: run 'make image' (or make compose-up)"
	local r n
	for r in "${REGIONS[@]}"; do
		init_region "$r"
	done
	dc up -d --remove-orphans
	echo "waiting up to ${WAIT_READY}s for the six nodes to be ready..."
	local deadline=$((SECONDS + WAIT_READY)) waiting
	while :; do
		waiting=()
		for r in "${REGIONS[@]}"; do
			for n in ${NODES[$r]}; do
				ready "$n" "$STATE/$r/ca/ca.pem" || waiting+=("$n")
			done
		done
		((${#waiting[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			echo "compose.sh: not ready after ${WAIT_READY}s: ${waiting[*]}; their last log lines:" >&2
			for n in "${waiting[@]}"; do dc logs --no-color --tail 10 "$n" >&2 || true; done
			echo "  (the containers keep running: '$0 down' stops them)" >&2
			exit 1
		fi
		sleep 1
	done
	CAPTURED=()
	for r in "${REGIONS[@]}"; do
		capture_root "$r"
	done
	echo
	echo "kmsnode compose cluster '$PROJECT' is up ($KMSNODE_IMAGE); state in $STATE"
	for r in "${REGIONS[@]}"; do
		echo
		echo "region $r (account 111122223333)"
		echo "  load balancer  $(endpoint "${LB[$r]}")"
		for n in ${NODES[$r]}; do
			echo "  $n             $(endpoint "$n")"
		done
		echo "  CA             $STATE/$r/ca/ca.pem"
		if [[ " ${CAPTURED[*]} " == *" $r "* ]]; then
			echo "  root credentials, printed once by the node that created the region (saved in $STATE/$r/root.env):"
			sed 's/^/    /' "$STATE/$r/root.env"
		elif [[ -s $STATE/$r/root.env ]]; then
			echo "  root credentials: source $STATE/$r/root.env"
		fi
	done
	local first=${REGIONS[0]}
	cat <<EOF

Try it:
  source $STATE/$first/root.env     # or: eval "\$(bash $0 env $first)"
  aws --endpoint-url $(endpoint "${LB[$first]}") kms create-key --description demo

Status: bash $0 status
Stop:   make compose-down   (PURGE=1 also deletes the volumes and $STATE)
EOF
}

cmd_status() {
	need_docker
	dc ps
	local r n state
	echo
	printf '%-14s %-10s %-8s %s\n' NODE REGION READY ENDPOINT
	for r in "${REGIONS[@]}"; do
		for n in ${NODES[$r]} ${LB[$r]}; do
			state=-
			if [[ $n != lb-* ]]; then
				state=no
				[[ -f $STATE/$r/ca/ca.pem ]] && ready "$n" "$STATE/$r/ca/ca.pem" && state=yes
			fi
			printf '%-14s %-10s %-8s %s\n' "$n" "$r" "$state" "$(endpoint "$n")"
		done
	done
}

cmd_env() {
	local r=${1:-}
	[[ -n $r && -n ${NODES[$r]+x} ]] || die "usage: $0 env ${REGIONS[*]// /|}"
	[[ -s $STATE/$r/root.env ]] || die "no credentials captured for $r ($STATE/$r/root.env): run up first"
	cat "$STATE/$r/root.env"
	echo "# aws --endpoint-url $(endpoint "${LB[$r]}") kms list-keys"
}

cmd_down() {
	local purge=0
	case "${1:-}" in
	"") ;;
	--purge) purge=1 ;;
	*) die "usage: $0 down [--purge]" ;;
	esac
	need_docker
	if ((purge)); then
		dc down --remove-orphans --volumes --timeout 30
		case $STATE in
		*/.state | */.state-*) ;;
		*) die "refusing to delete $STATE (not a .state directory)" ;;
		esac
		rm -rf "$STATE"
		echo "deleted the volumes and $STATE"
	else
		dc down --remove-orphans --timeout 30
		echo "containers removed; the volumes and $STATE are kept ('make compose-up' restarts on them)"
	fi
}

case "${1:-}" in
up) cmd_up ;;
status) cmd_status ;;
env)
	shift
	cmd_env "$@"
	;;
down)
	shift
	cmd_down "$@"
	;;
*)
	echo "usage: $0 up | status | env REGION | down [--purge]" >&2
	exit 2
	;;
esac
