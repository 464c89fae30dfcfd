#!/usr/bin/env bash
# A local 3-node kmsnode region on 127.0.0.1, for development only.
#
#   deploy/local/cluster.sh up             create .cluster/ if needed and start n1..n3
#   deploy/local/cluster.sh status         readiness of each node (and kmsctl members)
#   deploy/local/cluster.sh down [--purge] stop the nodes; --purge also deletes .cluster/
#
# It expects bin/kmsnode and bin/kmsctl (make build). The nodes use the fixed
# development identity of `kmsnode dev` and keep their unseal key next to
# their data: never use this layout for anything but local development.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="$ROOT/.cluster"
KMSNODE="$ROOT/bin/kmsnode"
KMSCTL="$ROOT/bin/kmsctl"

REGION=us-east-1
ACCOUNT=111122223333
# The development identity of `kmsnode dev` (node/config.go): dev only.
AKID=AKIAKMSNODEDEVELOPER
SECRET='kmsnode/dev/secret/access/key/not+for+production'
NODES=(n1 n2 n3)
WAIT_READY=60 # seconds `up` waits for every /readyz
WAIT_STOP=30  # seconds `down` waits for the nodes to exit after SIGTERM

api_port() { echo $((18080 + ${1#n})); }
cluster_port() { echo $((18300 + ${1#n})); }
gossip_port() { echo $((17945 + ${1#n})); }
endpoint() { echo "http://127.0.0.1:$(api_port "$1")"; }

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

# pid_of prints the pid of node $1 if that process is running kmsnode.
pid_of() {
	local f="$STATE/$1.pid" pid
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# The pid may have been reused by another program since.
	ps -p "$pid" -o command= 2>/dev/null | grep -q 'kmsnode serve' || return 1
	echo "$pid"
}

# alive succeeds while process $1 runs (a child that exited during `up`
# stays a zombie until the script ends, which kill -0 does not tell).
alive() {
	local st
	st=$(ps -p "$1" -o stat= 2>/dev/null) || return 1
	[[ -n $st && $st != Z* ]]
}

# http_ok succeeds when GET $1 answers 200.
http_ok() {
	if command -v curl >/dev/null; then
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
	else
		"$KMSCTL" status --endpoint "${1%/*}" >/dev/null 2>&1
	fi
}

# init_state creates what is missing of the CA, node certificates, unseal key
# and secret; a partly created .cluster/ (an interrupted up) is completed.
init_state() {
	umask 077
	mkdir -p "$STATE"
	local ca="$STATE/ca" certs="$STATE/certs" n
	if [[ ! -f $ca/ca.pem ]]; then
		if compgen -G "$certs/*.pem" >/dev/null; then
			die "$certs holds certificates but $ca/ca.pem is missing: run '$0 down --purge' and start over"
		fi
		rm -rf "$ca"
		"$KMSNODE" operator tls ca --out "$ca" --name "kmsnode local cluster CA" >/dev/null
	fi
	for n in "${NODES[@]}"; do
		if [[ ! -f $certs/$n.pem || ! -f $certs/$n-key.pem ]]; then
			rm -f "$certs/$n.pem" "$certs/$n-key.pem"
			"$KMSNODE" operator tls node --ca-dir "$ca" --out "$certs" --region "$REGION" \
				--node-id "$n" --host 127.0.0.1 --host localhost >/dev/null
		fi
	done
	if [[ ! -s $STATE/unseal.key ]]; then
		# All nodes of a region share the unseal key.
		head -c 32 /dev/urandom | base64 >"$STATE/unseal.key.tmp"
		mv "$STATE/unseal.key.tmp" "$STATE/unseal.key"
	fi
	if [[ ! -s $STATE/secret ]]; then
		printf '%s\n' "$SECRET" >"$STATE/secret"
	fi
}

# port_busy succeeds when something listens on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_node() {
	local n=$1 join=() m
	for m in "${NODES[@]}"; do
		[[ $m == "$n" ]] || join+=(--join "127.0.0.1:$(gossip_port "$m")")
	done
	echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) cluster.sh: starting $n" >>"$STATE/$n.log"
	nohup "$KMSNODE" serve \
		--region "$REGION" --account-id "$ACCOUNT" \
		--data-dir "$STATE/$n" \
		--api-addr "127.0.0.1:$(api_port "$n")" \
		--access-key-id "$AKID" --secret-access-key-file "$STATE/secret" \
		--seal file --seal-key-file "$STATE/unseal.key" \
		--cluster-addr "127.0.0.1:$(cluster_port "$n")" \
		--cluster-ca-file "$STATE/ca/ca.pem" \
		--cluster-cert-file "$STATE/certs/$n.pem" \
		--cluster-key-file "$STATE/certs/$n-key.pem" \
		--gossip-addr "127.0.0.1:$(gossip_port "$n")" \
		--gossip-key-file "$STATE/ca/gossip.key" \
		"${join[@]}" \
		--bootstrap-expect 3 \
		</dev/null >>"$STATE/$n.log" 2>&1 &
	echo $! >"$STATE/$n.pid"
}

cmd_up() {
	[[ -x $KMSNODE && -x $KMSCTL ]] || die "bin/kmsnode and bin/kmsctl are missing: run 'make build' first"
	local fresh=1 n pid p start=()
	[[ -d $STATE ]] && fresh=0
	for n in "${NODES[@]}"; do
		if pid=$(pid_of "$n"); then
			echo "$n is already running (pid $pid)"
		else
			start+=("$n")
		fi
	done
	# Check every port before starting anything.
	for n in "${start[@]+"${start[@]}"}"; do
		for p in "$(api_port "$n")" "$(cluster_port "$n")" "$(gossip_port "$n")"; do
			port_busy "$p" && die "127.0.0.1:$p (for $n) is in use by another program"
		done
	done
	init_state
	for n in "${start[@]+"${start[@]}"}"; do
		start_node "$n"
	done
	if ((fresh)); then
		echo "creating a new region in $STATE; waiting up to ${WAIT_READY}s for the nodes to be ready..."
	elif ((${#start[@]})); then
		echo "restarting ${start[*]} on the existing data in $STATE; waiting up to ${WAIT_READY}s for the nodes to be ready..."
	fi
	local deadline=$((SECONDS + WAIT_READY)) ready
	while :; do
		ready=0
		for n in "${NODES[@]}"; do
			# Not pid_of: a node just forked may not have exec'd kmsnode yet.
			if ! alive "$(<"$STATE/$n.pid")"; then
				echo "cluster.sh: $n exited; the end of $STATE/$n.log:" >&2
				tail -n 20 "$STATE/$n.log" >&2
				echo "  (the other nodes keep running: 'make cluster-down' stops them)" >&2
				exit 1
			fi
			http_ok "$(endpoint "$n")/readyz" && ready=$((ready + 1))
		done
		((ready == ${#NODES[@]})) && break
		if ((SECONDS >= deadline)); then
			echo "cluster.sh: only $ready of ${#NODES[@]} nodes are ready after ${WAIT_READY}s; see $STATE/n*.log" >&2
			echo "  (the nodes keep running: 'make cluster-down' stops them)" >&2
			exit 1
		fi
		sleep 0.5
	done
	cat <<EOF

kmsnode local cluster is running (region $REGION, account $ACCOUNT):
  n1  $(endpoint n1)
  n2  $(endpoint n2)
  n3  $(endpoint n3)
  state and logs: $STATE

Development identity (the one of 'kmsnode dev'; never use it in production):
  export AWS_ACCESS_KEY_ID=$AKID
  export AWS_SECRET_ACCESS_KEY=$SECRET
  export AWS_DEFAULT_REGION=$REGION

Any node serves any request:
  aws --endpoint-url $(endpoint n2) kms create-key --description demo

Status: bash deploy/local/cluster.sh status
Stop:   make cluster-down   (make cluster-down PURGE=1, or 'cluster.sh down --purge', also deletes $STATE)
EOF
}

cmd_down() {
	local purge=0 n pid
	case "${1:-}" in
	"") ;;
	--purge) purge=1 ;;
	*) die "usage: $0 down [--purge]" ;;
	esac
	local pids=()
	for n in "${NODES[@]}"; do
		if pid=$(pid_of "$n"); then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$n:$pid")
		fi
		rm -f "$STATE/$n.pid"
	done
	local deadline=$((SECONDS + WAIT_STOP)) alive p
	while ((${#pids[@]})); do
		alive=()
		for p in "${pids[@]}"; do
			kill -0 "${p#*:}" 2>/dev/null && alive+=("$p")
		done
		pids=("${alive[@]+"${alive[@]}"}")
		((${#pids[@]})) || break
		if ((SECONDS >= deadline)); then
			for p in "${pids[@]}"; do
				echo "cluster.sh: ${p%%:*} (pid ${p#*:}) did not stop within ${WAIT_STOP}s of SIGTERM; sending SIGKILL" >&2
				kill -KILL "${p#*:}" 2>/dev/null || true
			done
			break
		fi
		sleep 0.2
	done
	echo "kmsnode local cluster stopped"
	if ((purge)); then
		[[ $STATE == */.cluster ]] || die "refusing to delete $STATE"
		rm -rf "$STATE"
		echo "deleted $STATE"
	fi
}

cmd_status() {
	[[ -d $STATE ]] || {
		echo "no local cluster ($STATE does not exist): make cluster"
		return 0
	}
	local n pid state first="" rc=0
	printf '%-4s %-8s %-8s %-24s %s\n' NODE PID STATE ENDPOINT LOG
	for n in "${NODES[@]}"; do
		if pid=$(pid_of "$n"); then
			if http_ok "$(endpoint "$n")/readyz"; then
				state=ready
				[[ -n $first ]] || first=$(endpoint "$n")
			elif http_ok "$(endpoint "$n")/healthz"; then
				state=alive # serving, no read lease
				rc=1
			else
				state=starting
				rc=1
			fi
		else
			pid=- state=stopped rc=1
		fi
		printf '%-4s %-8s %-8s %-24s %s\n' "$n" "$pid" "$state" "$(endpoint "$n")" "$STATE/$n.log"
	done
	if [[ -n $first && -x $KMSCTL ]]; then
		echo
		AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN='' \
			"$KMSCTL" members --endpoint "$first" --region "$REGION" 2>&1 ||
			echo "(kmsctl members failed; the nodes' logs are in $STATE)"
	fi
	return $rc
}

case "${1:-}" in
up) cmd_up ;;
down)
	shift
	cmd_down "$@"
	;;
status) cmd_status ;;
*)
	echo "usage: $0 up | down [--purge] | status" >&2
	exit 2
	;;
esac
