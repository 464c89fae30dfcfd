#!/usr/bin/env bash
# bench/run.sh — the HTTP benchmark behind `make bench` (see bench/README.md).
#
# Builds bin/kmsnode, bin/kmsbench and bin/kmsbaseline; starts a one-node
# `kmsnode dev` on a fresh data directory and the baseline handler, each on
# a free loopback port; drives both with kmsbench (same signed requests,
# alternated, repeated, medians); writes bench/out/results.{json,csv,txt} and
# prints the table. Both servers are stopped and the data directory removed
# on exit, whatever happens.
#
# Environment:
#   BENCH_DURATION     measured window per run        (default 3s)
#   BENCH_WARMUP       unrecorded warm-up per run     (default 1s)
#   BENCH_REPEAT       runs per target and cell       (default 3)
#   BENCH_OPS          operations, comma-separated    (default Encrypt32,Encrypt4K,Decrypt,
#                      GenerateDataKey,ReEncrypt,CreateKey)
#   BENCH_CONCURRENCY  worker counts, comma-separated (default 1,32)
#   BENCH_OUT          output directory               (default bench/out)
#   BENCH_KMSNODE      a kmsnode binary to measure instead of building
#                      bin/kmsnode (before/after comparisons of two commits)
#   GO                 go command                     (default go)
#   PROFILE            1: start kmsnode with --debug-addr and save its CPU
#                      profile of every cell's first kmsnode run, plus heap
#                      and allocation profiles, in $BENCH_OUT/profiles/
#                      (with a `go tool pprof -top` summary of each)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DURATION=${BENCH_DURATION:-3s}
WARMUP=${BENCH_WARMUP:-1s}
REPEAT=${BENCH_REPEAT:-3}
OPS=${BENCH_OPS:-Encrypt32,Encrypt4K,Decrypt,GenerateDataKey,ReEncrypt,CreateKey}
CONCURRENCY=${BENCH_CONCURRENCY:-1,32}
OUT=${BENCH_OUT:-bench/out}
START_TIMEOUT=60 # seconds to wait for each server

profile=""
if [ -n "${PROFILE:-}" ] && [ "${PROFILE}" != 0 ]; then
  profile=1
fi

echo "bench: building bin/kmsnode, bin/kmsbench, bin/kmsbaseline" >&2
mkdir -p bin "$OUT"
KMSNODE=${BENCH_KMSNODE:-bin/kmsnode}
if [ -z "${BENCH_KMSNODE:-}" ]; then
  "$GO" build -o bin/kmsnode ./cmd/kmsnode
fi
"$GO" build -o bin/kmsbench ./cmd/kmsbench
"$GO" build -o bin/kmsbaseline ./bench/baseline

datadir=$(mktemp -d "${TMPDIR:-/tmp}/kmsnode-bench.XXXXXX")
node_pid=""
base_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in $node_pid $base_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $node_pid $base_pid; do
    # Give each server a few seconds to stop cleanly, then insist.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$datadir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Port 0: each server picks a free port itself and prints it, so there is
# no window in which another process could take a port chosen for it.
"$KMSNODE" dev --data-dir "$datadir" --api-addr 127.0.0.1:0 --log-level warn \
  ${profile:+--debug-addr 127.0.0.1:0} \
  >"$OUT/kmsnode.out" 2>"$OUT/kmsnode.log" &
node_pid=$!
bin/kmsbaseline --addr 127.0.0.1:0 >"$OUT/baseline.out" 2>"$OUT/baseline.log" &
base_pid=$!

# wait_for NAME PID FILE SED-EXPR: wait until the server's output FILE
# yields a value for SED-EXPR, failing if the server exits or the deadline
# passes; prints the value.
wait_for() {
  local name=$1 pid=$2 file=$3 expr=$4 deadline=$((SECONDS + START_TIMEOUT)) v
  while :; do
    v=$(sed -n "$expr" "$file" | head -n1)
    if [ -n "$v" ]; then echo "$v"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: $name exited before it was ready; its output:" >&2
      cat "$file" "${file%.out}.log" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench: $name did not start within ${START_TIMEOUT}s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# ready URL NAME: poll URL until it answers 200, with a deadline.
ready() {
  local url=$1 name=$2 deadline=$((SECONDS + START_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench: $name at $url not ready within ${START_TIMEOUT}s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# What `kmsnode dev` prints: the endpoint and the development identity.
node_url=$(wait_for kmsnode "$node_pid" "$OUT/kmsnode.out" 's/^ *endpoint: *//p')
base_url=$(wait_for baseline "$base_pid" "$OUT/baseline.out" 's/^kmsbaseline listening on //p')
access_key=$(sed -n 's/^ *export AWS_ACCESS_KEY_ID=//p' "$OUT/kmsnode.out" | head -n1)
region=$(sed -n 's/^ *export AWS_DEFAULT_REGION=//p' "$OUT/kmsnode.out" | head -n1)
AWS_SECRET_ACCESS_KEY=$(sed -n 's/^ *export AWS_SECRET_ACCESS_KEY=//p' "$OUT/kmsnode.out" | head -n1)
export AWS_SECRET_ACCESS_KEY
if [ -z "$access_key" ] || [ -z "$AWS_SECRET_ACCESS_KEY" ] || [ -z "$region" ]; then
  echo "bench: could not read the development identity from kmsnode dev's output" >&2
  exit 1
fi
ready "$node_url/readyz" kmsnode
ready "$base_url/" baseline
echo "bench: kmsnode $node_url (data $datadir), baseline $base_url" >&2

profile_args=()
if [ -n "$profile" ]; then
  debug_url=$(wait_for kmsnode "$node_pid" "$OUT/kmsnode.out" 's/^ *debug: *\(http:[^ ]*\)\/debug\/pprof\/$/\1/p')
  rm -rf "$OUT/profiles"
  profile_args=(--profile-url "$debug_url" --profile-dir "$OUT/profiles")
fi

status=0
bin/kmsbench "${profile_args[@]}" \
  --endpoint "$node_url" --baseline-endpoint "$base_url" \
  --pid "$node_pid" --baseline-pid "$base_pid" \
  --region "$region" --access-key-id "$access_key" \
  --ops "$OPS" --concurrency "$CONCURRENCY" \
  --duration "$DURATION" --warmup "$WARMUP" --repeat "$REPEAT" \
  --json "$OUT/results.json" --csv "$OUT/results.csv" --png "$OUT/results.png" \
  | tee "$OUT/results.txt" || status=$?
echo "bench: wrote $OUT/results.json, $OUT/results.csv, $OUT/results.txt, $OUT/results.png" >&2
if [ -n "$profile" ] && [ -d "$OUT/profiles" ]; then
  for p in "$OUT"/profiles/*.pprof; do
    "$GO" tool pprof -top -nodecount=30 "$KMSNODE" "$p" >"${p%.pprof}.top.txt" 2>/dev/null || true
  done
  echo "bench: server profiles and their top-30 summaries in $OUT/profiles/ (go tool pprof -http=: bin/kmsnode FILE)" >&2
fi
exit "$status"
