#!/usr/bin/env bash
# bench/cluster.sh — the 3-node part of `make bench` (see bench/README.md,
# "3-node region").
#
# Builds bin/kmsnode, bin/kmsctl, bin/kmsbench and bin/kmsbaseline; starts a
# 3-node region with deploy/local/cluster.sh (state in .cluster/, API ports
# 18081-18083) and the baseline handler; finds the leader and a follower
# with `kmsctl members`; then runs kmsbench three times, each against the
# baseline handler in the same run:
#   crypto     Encrypt32, Encrypt4K, Decrypt, GenerateDataKey, ReEncrypt at
#              c=1,32, workers spread round-robin over the three nodes
#   leader     CreateKey at c=1,32 through the leader only
#   follower   CreateKey at c=1,32 through one follower only (forwarded writes)
# It writes bench/out/cluster-{crypto,createkey-leader,createkey-follower}.
# {json,csv,txt}, bench/out/cluster-summary.txt, and prints the summary.
#
# A developer's own .cluster/ is never touched: if .cluster/ exists (nodes
# running or not) or the region's ports are taken, the script refuses. The
# region it starts is marked (.cluster/bench-owner) and stopped, .cluster/
# deleted, on exit whatever happens (the nodes' logs are kept as
# bench/out/cluster-n*.log) — unless someone replaced it meanwhile (a
# `cluster.sh down`/`up` of this checkout while the benchmark ran): then
# the benchmark stops, its results void, and leaves that region alone.
#
# Environment: BENCH_DURATION (default 3s), BENCH_WARMUP (1s), BENCH_REPEAT
# (3), BENCH_OUT (bench/out), GO (go), as for bench/run.sh. Needs jq and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DURATION=${BENCH_DURATION:-3s}
WARMUP=${BENCH_WARMUP:-1s}
REPEAT=${BENCH_REPEAT:-3}
OUT=${BENCH_OUT:-bench/out}
CRYPTO_OPS=Encrypt32,Encrypt4K,Decrypt,GenerateDataKey,ReEncrypt
CRYPTO_CONCURRENCY=1,32
CREATE_CONCURRENCY=1,32
CLUSTER=deploy/local/cluster.sh
STATE=.cluster
FIRST=http://127.0.0.1:18081 # n1's API endpoint in deploy/local/cluster.sh
PORTS=(18081 18082 18083 18301 18302 18303 17946 17947 17948)
START_TIMEOUT=60 # seconds to wait for the baseline, and for a leader

die() {
  echo "bench/cluster.sh: $*" >&2
  exit 1
}

for tool in jq curl; do
  command -v "$tool" >/dev/null || die "$tool is needed (to read kmsctl's and kmsbench's JSON, to poll readiness)"
done

# check_free refuses to go on when .cluster/ or the region's ports are in use.
check_free() {
  local f pid running=""
  if [ -e "$STATE" ]; then
    for f in "$STATE"/n*.pid; do
      [ -f "$f" ] || continue
      pid=$(cat "$f")
      if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        ps -p "$pid" -o command= 2>/dev/null | grep -q 'kmsnode serve'; then
        running="$running $(basename "$f" .pid) (pid $pid)"
      fi
    done
    if [ -n "$running" ]; then
      die "a local cluster is running from $STATE/:$running. This benchmark starts its own region in
  $STATE/ on the same ports and deletes it afterwards, so it leaves yours alone and stops here.
  Stop yours first ('bash $CLUSTER down'; its data stays in $STATE/), move $STATE/ aside, and run again."
    fi
    die "$STATE/ holds a stopped local cluster's data. This benchmark would start those nodes and delete
  $STATE/ on exit, so it stops here. Move $STATE/ aside (or delete it: 'bash $CLUSTER down --purge') and run again."
  fi
  local p
  for p in "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      die "127.0.0.1:$p is in use (another checkout's local cluster?); the region needs ports ${PORTS[*]}"
    fi
  done
}

check_free
echo "bench: building bin/kmsnode, bin/kmsctl, bin/kmsbench, bin/kmsbaseline" >&2
mkdir -p bin "$OUT"
"$GO" build -o bin/kmsnode ./cmd/kmsnode
"$GO" build -o bin/kmsctl ./cmd/kmsctl
"$GO" build -o bin/kmsbench ./cmd/kmsbench
"$GO" build -o bin/kmsbaseline ./bench/baseline

started_cluster=0
base_pid=""
owner="bench/cluster.sh pid $$ $(date -u +%Y-%m-%dT%H:%M:%SZ) $RANDOM$RANDOM"
node_pids=() # n1 n2 n3 as `up` started them

# claim marks .cluster/ as this run's and records the nodes' pids.
claim() {
  local n
  [ -d "$STATE" ] || return 0
  printf '%s\n' "$owner" >"$STATE/bench-owner"
  node_pids=()
  for n in n1 n2 n3; do node_pids+=("$(cat "$STATE/$n.pid" 2>/dev/null || echo -)"); done
}

# ours succeeds while .cluster/ is still the region this run started: our
# marker, and no node restarted by someone else (another pid in a pid file).
ours() {
  local i=0 n p
  [ "$(cat "$STATE/bench-owner" 2>/dev/null)" = "$owner" ] || return 1
  for n in n1 n2 n3; do
    p=$(cat "$STATE/$n.pid" 2>/dev/null || echo -)
    [ "$p" = - ] || [ "$p" = "${node_pids[$i]}" ] || return 1
    i=$((i + 1))
  done
}

# still_ours stops the benchmark when someone stopped or replaced the region
# (the shared .cluster/ of this checkout) while it ran.
still_ours() {
  local n
  ours || die "$STATE/ was replaced while the benchmark ran (did someone run '$CLUSTER down' or 'up'?); results are void"
  for n in "${node_pids[@]}"; do
    kill -0 "$n" 2>/dev/null || die "a node of the region (pid $n) exited while the benchmark ran; see $STATE/n*.log; results are void"
  done
}

cleanup() {
  local rc=$? f pid
  trap - EXIT INT TERM
  if [ -n "$base_pid" ]; then
    kill -TERM "$base_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$base_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$base_pid" 2>/dev/null || true
    wait "$base_pid" 2>/dev/null || true
  fi
  if [ "$started_cluster" = 1 ] && ours; then
    for f in "$STATE"/n*.log; do
      [ -f "$f" ] && cp "$f" "$OUT/cluster-$(basename "$f")"
    done
    echo "bench: stopping the region and deleting $STATE/ (node logs: $OUT/cluster-n*.log)" >&2
    bash "$CLUSTER" down --purge >"$OUT/cluster-down.txt" 2>&1 || {
      echo "bench: '$CLUSTER down --purge' failed:" >&2
      cat "$OUT/cluster-down.txt" >&2
    }
  elif [ "$started_cluster" = 1 ]; then
    # Someone else's region now (or none): leave .cluster/ alone, stop only
    # our own nodes if any still run.
    [ ! -e "$STATE" ] || echo "bench: $STATE/ is no longer the region this run started; leaving it alone" >&2
    for pid in "${node_pids[@]+"${node_pids[@]}"}"; do
      if [[ $pid =~ ^[0-9]+$ ]] && ps -p "$pid" -o command= 2>/dev/null | grep -q 'kmsnode serve'; then
        echo "bench: stopping node pid $pid that this run started" >&2
        kill -TERM "$pid" 2>/dev/null || true
      fi
    done
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check_free # again: building took a while
rm -f "$OUT"/cluster-*
echo "bench: starting a 3-node region with $CLUSTER up" >&2
started_cluster=1 # from here on .cluster/ is ours, even if `up` fails half-way
if ! bash "$CLUSTER" up >"$OUT/cluster-up.txt" 2>&1; then
  claim
  cat "$OUT/cluster-up.txt" >&2
  die "'$CLUSTER up' failed"
fi
claim
ident() { sed -n "s/^ *export $1=//p" "$OUT/cluster-up.txt" | head -n1; }
AWS_ACCESS_KEY_ID=$(ident AWS_ACCESS_KEY_ID)
AWS_SECRET_ACCESS_KEY=$(ident AWS_SECRET_ACCESS_KEY)
AWS_DEFAULT_REGION=$(ident AWS_DEFAULT_REGION)
if [ -z "$AWS_ACCESS_KEY_ID" ] || [ -z "$AWS_SECRET_ACCESS_KEY" ] || [ -z "$AWS_DEFAULT_REGION" ]; then
  die "could not read the development identity from '$CLUSTER up' (see $OUT/cluster-up.txt)"
fi
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION
unset AWS_SESSION_TOKEN AWS_REGION KMSNODE_ENDPOINT

bin/kmsbaseline --addr 127.0.0.1:0 >"$OUT/cluster-baseline.out" 2>"$OUT/cluster-baseline.log" &
base_pid=$!
deadline=$((SECONDS + START_TIMEOUT))
base_url=""
until [ -n "$base_url" ]; do
  base_url=$(sed -n 's/^kmsbaseline listening on //p' "$OUT/cluster-baseline.out" | head -n1)
  kill -0 "$base_pid" 2>/dev/null || die "kmsbaseline exited; see $OUT/cluster-baseline.log"
  [ "$SECONDS" -lt "$deadline" ] || die "kmsbaseline did not start within ${START_TIMEOUT}s"
  [ -n "$base_url" ] || sleep 0.1
done
until curl -fsS -o /dev/null --max-time 2 "$base_url/" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || die "kmsbaseline at $base_url not ready within ${START_TIMEOUT}s"
  sleep 0.1
done

# members FILE: the region's members as kmsctl prints them, once three
# members advertise an API address and one of them leads.
members() {
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if bin/kmsctl members --endpoint "$FIRST" --json >"$1" 2>"$1.err" &&
      jq -e '[.members[] | select(.api_addr != null and .api_addr != "")] | length == 3' "$1" >/dev/null &&
      jq -e '[.members[] | select(.leader)] | length == 1' "$1" >/dev/null; then
      rm -f "$1.err"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      cat "$1" "$1.err" >&2 2>/dev/null || true
      die "no region of three members with one leader after ${START_TIMEOUT}s (kmsctl members --endpoint $FIRST)"
    fi
    sleep 0.5
  done
}
url_of() { jq -r "$1"' | .api_addr | if test("^https?://") then . else "http://" + . end' "$OUT/cluster-members.json"; }
members "$OUT/cluster-members.json"
leader_id=$(jq -r '.members[] | select(.leader) | .node_id' "$OUT/cluster-members.json")
leader_url=$(url_of '.members[] | select(.leader)')
follower_id=$(jq -r '[.members[] | select(.leader | not) | select(.suffrage == "voter")][0].node_id' "$OUT/cluster-members.json")
follower_url=$(url_of '[.members[] | select(.leader | not) | select(.suffrage == "voter")][0]')
all_urls=$(url_of '.members | sort_by(.node_id) | .[]' | paste -sd, -)
first_id=$(jq -r '.members | sort_by(.node_id) | .[0].node_id' "$OUT/cluster-members.json")
[ "$follower_id" != null ] || die "no follower among the members (see $OUT/cluster-members.json)"
echo "bench: region $all_urls; leader $leader_id $leader_url, follower $follower_id $follower_url; baseline $base_url" >&2

status=0
# kmsbench_run NAME ARGS...: one kmsbench invocation against the region and
# the baseline, its output in $OUT/cluster-NAME.{json,csv,txt}.
kmsbench_run() {
  local name=$1
  shift
  still_ours
  echo "bench: --- $name" >&2
  local rcs
  set +e
  bin/kmsbench --baseline-endpoint "$base_url" \
    --pid "$(IFS=,; echo "${node_pids[*]}")" --baseline-pid "$base_pid" \
    --duration "$DURATION" --warmup "$WARMUP" --repeat "$REPEAT" \
    --json "$OUT/cluster-$name.json" --csv "$OUT/cluster-$name.csv" "$@" |
    tee "$OUT/cluster-$name.txt"
  rcs=("${PIPESTATUS[@]}")
  set -e
  # kmsbench exits 130 when Ctrl-C stopped it (bash runs no INT trap when
  # the foreground command handled the signal itself): stop here too.
  if [ "${rcs[0]}" -ge 128 ] || [ "${rcs[1]}" -ge 128 ]; then
    exit 130
  fi
  [ "${rcs[0]}" = 0 ] || status=1
}
kmsbench_run crypto --endpoint "$all_urls" --ops "$CRYPTO_OPS" --concurrency "$CRYPTO_CONCURRENCY"
kmsbench_run createkey-leader --endpoint "$leader_url" --ops CreateKey --concurrency "$CREATE_CONCURRENCY"
kmsbench_run createkey-follower --endpoint "$follower_url" --ops CreateKey --concurrency "$CREATE_CONCURRENCY"

# The leader must not have changed while CreateKey was measured through it.
still_ours
members "$OUT/cluster-members-after.json"
leader_after=$(jq -r '.members[] | select(.leader) | .node_id' "$OUT/cluster-members-after.json")
note=""
if [ "$leader_after" != "$leader_id" ]; then
  note="WARNING: the leader changed from $leader_id to $leader_after during the runs: the leader/follower rows are mixed."
  status=1
fi

# One picture of the three runs; a run that wrote no report is left out.
charts=()
for n in crypto createkey-leader createkey-follower; do
  if [ -s "$OUT/cluster-$n.json" ]; then charts+=("$OUT/cluster-$n.json"); fi
done
if [ "${#charts[@]}" -gt 0 ]; then
  bin/kmsbench chart --title "kmsnode 3-node region: leader $leader_id, follower $follower_id" \
    --png "$OUT/cluster-chart.png" "${charts[@]}" >&2 || status=1
fi

# rows FILE: one TSV row per cell: op conc base-ops node-ops ratio p50 p99 p99/base errors.
rows() {
  [ -s "$1" ] || return 0
  jq -r '.cells[] | (.targets[] | select(.target == "baseline")) as $b | (.targets[] | select(.target != "baseline")) as $n
    | [.op, .concurrency, $b.median.ops_per_sec, $n.median.ops_per_sec, ($n.ratio_to_baseline.ops_per_sec // "-"),
       $n.median.p50_ms, $n.median.p99_ms, ($n.ratio_to_baseline.p99 // "-"), $n.median.errors,
       ($n.median.cpu_us_per_op // "-"), ($n.ratio_to_baseline.cpu_per_op // "-")] | @tsv' "$1"
}
fmt='%-16s %-12s %4s %10s %9s %6s %8s %8s %8s %6s %9s %8s\n'
# table LABEL FILE: the formatted rows of FILE, each after its concurrency
# and a tab (a sort key).
# With LABEL "spread", the workers went round-robin over the three nodes
# (first: $first_id), so a row of fewer than three workers loaded fewer nodes.
table() {
  rows "$2" | awk -F'\t' -v label="$1" -v first="$first_id" -v fmt="$fmt" '
    function r(x) { return x == "-" ? "-" : sprintf(x < 0.1 ? "%.3f" : "%.2f", x) }
    function m(x) { return x < 1 ? sprintf("%.3f", x) : sprintf("%.2f", x) }
    { via = label
      if (label == "spread") via = $2 >= 3 ? "all 3 nodes" : $2 == 1 ? first " only" : "2 of 3 nodes"
      printf "%d\t" fmt, $2, $1, via, $2, sprintf("%.0f", $3), sprintf("%.0f", $4), r($5), m($6), m($7), r($8), $9,
        $10 == "-" ? "-" : sprintf("%.1f", $10), r($11) }'
}
# vs_leader C FIELD: the follower's ratio to its baseline over the leader's.
vs_leader() {
  jq -rn --slurpfile l "$OUT/cluster-createkey-leader.json" --slurpfile f "$OUT/cluster-createkey-follower.json" \
    --argjson c "$1" --arg k "$2" '
    def r($rep): $rep[0].cells[] | select(.concurrency == $c) | .targets[] | select(.target != "baseline") | .ratio_to_baseline[$k];
    [r($f), r($l)] | if length != 2 or any(. == null) then "-" else .[0] / .[1] end' 2>/dev/null |
    awk '$1 == "-" { print "-"; next } { printf "%.2f\n", $1 }' || echo -
}
{
  echo "3-node region on 127.0.0.1 (leader $leader_id, follower $follower_id); $(nproc) CPUs shared by the nodes, kmsbench and the baseline"
  echo "each figure: median of $REPEAT run(s) of $DURATION after $WARMUP warm-up; ratio = kmsnode ÷ the baseline handler measured in the same kmsbench run"
  echo "cpu µs: the three nodes' CPU time per successful request; cpu/base: that ÷ the baseline's CPU per request"
  echo
  printf "$fmt" op via conc "base ops/s" "ops/s" ratio "p50 ms" "p99 ms" p99/base errors "cpu µs" cpu/base
  table spread "$OUT/cluster-crypto.json" | cut -f2-
  { table "leader $leader_id" "$OUT/cluster-createkey-leader.json"; table "follower $follower_id" "$OUT/cluster-createkey-follower.json"; } |
    sort -s -t"$(printf '\t')" -k1,1n | cut -f2-
  echo
  for c in ${CREATE_CONCURRENCY//,/ }; do
    echo "CreateKey c=$c, follower ÷ leader (each ratio to its own baseline first): ops/s $(vs_leader "$c" ops_per_sec), p50 $(vs_leader "$c" p50), p99 $(vs_leader "$c" p99)"
  done
  [ -z "$note" ] || echo "$note"
} | tee "$OUT/cluster-summary.txt"
echo "bench: wrote $OUT/cluster-*.json, *.csv, *.txt, $OUT/cluster-chart.png and $OUT/cluster-summary.txt" >&2
exit "$status"
