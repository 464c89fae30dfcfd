#!/usr/bin/env bash
# bench/memory.sh — `make bench-memory` (see bench/README.md, "Memory").
#
# What a kmsnode holding many keys costs: builds bin/kmsnode and bin/kmsfill,
# starts `kmsnode dev` on a fresh data directory (127.0.0.1:0), fills it
# through the API (BENCH_KEYS keys with BENCH_VERSIONS material versions
# each), and records
#   - the node's memory (VmRSS, VmHWM, RssAnon, RssFile from /proc/<pid>/status;
#     Go heap figures after a forced GC through the pprof listener when
#     kmsnode has --debug-addr, else the last GC's live heap from
#     GODEBUG=gctrace=1) before the fill, right after it, and once the node
#     has settled (after Raft's automatic snapshot of the filled state);
#   - that snapshot: size of its state.bin, persist time (from the Raft log
#     lines if the node shows them, else from the snapshot's file times), and
#     what it holds (kmsfill snapinfo);
#   - the restart: SIGTERM, then the same data directory again, timed until
#     /readyz answers 200 and DescribeKey (+ ListKeyRotations) of the last
#     filled key works (snapshot restore + log replay), and the memory after.
# Writes $BENCH_OUT/memory.json and memory.txt (plus memory-*.{out,log,json},
# heap profiles memory-heap-*.pprof when available) and prints the table. The
# node is stopped and the data directory removed on exit, whatever happens.
#
# Environment:
#   BENCH_KEYS              keys to create                        (default 100000)
#   BENCH_VERSIONS          material versions per key (1–26)      (default 3)
#   BENCH_FILL_CONCURRENCY  kmsfill workers                       (default 32)
#   BENCH_SNAPSHOT_WAIT     seconds to wait after the fill for Raft's
#                           automatic snapshot (it checks every 120–240 s) (default 300)
#   BENCH_RESTART_TIMEOUT   seconds allowed for the restart       (default 300)
#   BENCH_OUT               output directory                      (default bench/out)
#   GO                      go command                            (default go)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
KEYS=${BENCH_KEYS:-100000}
VERSIONS=${BENCH_VERSIONS:-3}
CONC=${BENCH_FILL_CONCURRENCY:-32}
SNAP_WAIT=${BENCH_SNAPSHOT_WAIT:-300}
RESTART_TIMEOUT=${BENCH_RESTART_TIMEOUT:-300}
OUT=${BENCH_OUT:-bench/out}
START_TIMEOUT=60
# hashicorp/raft's default SnapshotThreshold: kmsnode dev does not change it.
# Raft snapshots when the log has grown by this many entries since the last
# snapshot, checked every SnapshotInterval (120 s, randomised up to 240 s).
SNAPSHOT_THRESHOLD=8192

for v in KEYS VERSIONS CONC SNAP_WAIT RESTART_TIMEOUT; do
  case ${!v} in '' | *[!0-9]*) echo "bench-memory: $v=${!v} is not a number" >&2; exit 2 ;; esac
done
command -v jq >/dev/null || { echo "bench-memory: needs jq" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-memory: needs curl" >&2; exit 2; }

echo "bench-memory: building bin/kmsnode, bin/kmsfill" >&2
mkdir -p bin "$OUT"
"$GO" build -o bin/kmsnode ./cmd/kmsnode
"$GO" build -o bin/kmsfill ./bench/fill
rm -f "$OUT"/memory-* "$OUT/memory.json" "$OUT/memory.txt"

datadir=$(mktemp -d "${TMPDIR:-/tmp}/kmsnode-memory.XXXXXX")
node_pid=""
watch_pid=""
stop_node() { # stop_node: SIGTERM, a few seconds to stop cleanly, then SIGKILL
  local pid=$node_pid
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  node_pid=""
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$watch_pid" ]; then kill "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; fi
  stop_node
  rm -rf "$datadir"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { date +%s%3N; }

# Does this kmsnode have the pprof listener (--debug-addr)?
debug_flag=()
if bin/kmsnode dev --help 2>&1 | grep -q -- '--debug-addr'; then
  debug_flag=(--debug-addr 127.0.0.1:0)
fi

# start_node TAG: start `kmsnode dev` on $datadir with output in
# $OUT/memory-TAG.{out,log}; sets node_pid. GODEBUG=gctrace=1 prints one
# line per GC (heap sizes) to the log.
start_node() {
  local tag=$1
  GODEBUG=gctrace=1 bin/kmsnode dev --data-dir "$datadir" --api-addr 127.0.0.1:0 --log-level info \
    "${debug_flag[@]}" >"$OUT/memory-$tag.out" 2>"$OUT/memory-$tag.log" &
  node_pid=$!
}

# wait_out TAG SED-EXPR [TIMEOUT]: wait until the node's output yields a
# value for SED-EXPR; prints it. Fails if the node exits or time runs out.
wait_out() {
  local tag=$1 expr=$2 timeout=${3:-$START_TIMEOUT} deadline v
  deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    v=$(sed -n "$expr" "$OUT/memory-$tag.out" | head -n1)
    if [ -n "$v" ]; then echo "$v"; return 0; fi
    if ! kill -0 "$node_pid" 2>/dev/null; then
      echo "bench-memory: kmsnode exited before it was ready; its output:" >&2
      cat "$OUT/memory-$tag.out" >&2 || true
      grep -v '^gc [0-9]' "$OUT/memory-$tag.log" >&2 || true
      return 1
    fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
      echo "bench-memory: kmsnode did not start within ${timeout}s" >&2
      return 1
    fi
    sleep 0.02
  done
}

# ready URL [TIMEOUT]: poll URL/readyz until it answers 200.
ready() {
  local url=$1 timeout=${2:-$START_TIMEOUT} deadline
  deadline=$(($(now_ms) + timeout * 1000))
  until curl -fsS -o /dev/null --max-time 2 "$url/readyz" 2>/dev/null; do
    if [ "$(now_ms)" -ge "$deadline" ]; then
      echo "bench-memory: kmsnode at $url not ready within ${timeout}s" >&2
      return 1
    fi
    sleep 0.02
  done
}

# mem STAGE GC: the node's memory as a JSON object; GC=1 forces a GC first
# (through the pprof listener, if there is one) and saves a heap profile.
mem() {
  local stage=$1 gc=$2 heap=null prof=null st live=null goal=null line
  if [ -n "$debug_url" ]; then
    local q="debug=1"
    [ "$gc" = 1 ] && q="gc=1&debug=1"
    if curl -fsS --max-time 60 "$debug_url/heap?$q" -o "$OUT/memory-heap-$stage.txt"; then
      heap=$(sed -n 's/^# \(HeapAlloc\|HeapInuse\|HeapIdle\|HeapReleased\|HeapSys\|Sys\|NextGC\|NumGC\) = \([0-9]*\)$/"\1":\2/p' \
        "$OUT/memory-heap-$stage.txt" | paste -sd, -)
      heap="{${heap}}"
    fi
    if [ "$gc" = 1 ] && curl -fsS --max-time 60 "$debug_url/heap" -o "$OUT/memory-heap-$stage.pprof"; then
      prof="\"$OUT/memory-heap-$stage.pprof\""
    fi
  fi
  # The last GC's heap: "gc N @Ts P%: … A->B->C MB, G MB goal, …" (C is live).
  line=$(grep -E '^gc [0-9]+ @' "$OUT/memory-$cur_tag.log" | tail -n1 || true)
  if [[ $line =~ ([0-9]+)-\>([0-9]+)-\>([0-9]+)\ MB,\ ([0-9]+)\ MB\ goal ]]; then
    live=${BASH_REMATCH[3]} goal=${BASH_REMATCH[4]}
  fi
  st=$(awk '/^(VmRSS|VmHWM|RssAnon|RssFile):/ {sub(/:$/, "", $1); printf "%s\"%s_kib\":%s", (n++ ? "," : ""), $1, $2}' "/proc/$node_pid/status")
  jq -n --arg stage "$stage" --argjson st "{$st}" --argjson heap "$heap" --argjson prof "$prof" \
    --argjson live "$live" --argjson goal "$goal" --argjson t "$(now_ms)" \
    '{stage: $stage, at_ms: $t, rss_kib: $st.VmRSS_kib, hwm_kib: $st.VmHWM_kib, anon_kib: $st.RssAnon_kib,
      file_kib: $st.RssFile_kib, heap: $heap, heap_profile: $prof, gctrace_live_mb: $live, gctrace_goal_mb: $goal}'
}

# wait_idle [TIMEOUT]: wait until the node has used less than 15 % of a CPU
# for 3 s in a row (after a snapshot, Raft still compacts the log; after a
# restart, it replays it); prints the milliseconds waited, up to TIMEOUT s.
# Not 0 %: an idle node holding 100 000 keys uses about 5 % (the leader's
# scheduler scans every key each second, and the GC and scavenger follow).
wait_idle() {
  local timeout=${1:-60} start quiet=0 prev cur
  start=$(now_ms)
  prev=$(awk '{print $14 + $15}' "/proc/$node_pid/stat")
  while [ "$quiet" -lt 3 ] && [ $(($(now_ms) - start)) -lt $((timeout * 1000)) ]; do
    sleep 1
    cur=$(awk '{print $14 + $15}' "/proc/$node_pid/stat")
    # clock ticks (usually 100/s): less than 15 % of them is idle
    if [ $((cur - prev)) -lt $(($(getconf CLK_TCK) * 15 / 100)) ]; then quiet=$((quiet + 1)); else quiet=0; fi
    prev=$cur
  done
  echo $(($(now_ms) - start))
}

# cpu_pct SECONDS: the node's CPU use over the next SECONDS, in % of one CPU.
cpu_pct() {
  local a b
  a=$(awk '{print $14 + $15}' "/proc/$node_pid/stat")
  sleep "$1"
  b=$(awk '{print $14 + $15}' "/proc/$node_pid/stat")
  awk -v d=$((b - a)) -v hz="$(getconf CLK_TCK)" -v s="$1" 'BEGIN {printf "%.1f", 100 * d / hz / s}'
}

# snapshots: one JSON object per finished snapshot in the data directory
# (name term-index-startms; state.bin's size; the end is meta.json's mtime,
# written when the sink is closed, just before the directory is renamed).
snapdir="$datadir/raft/snapshots"
watch_snapshots() {
  local seen=" " d name term index start end size
  while :; do
    for d in "$snapdir"/*/; do
      [ -d "$d" ] || continue
      name=$(basename "$d")
      case $name in *.tmp) continue ;; esac
      case $seen in *" $name "*) continue ;; esac
      [ -f "$d/meta.json" ] && [ -f "$d/state.bin" ] || continue
      IFS=- read -r term index start <<<"$name"
      end=$(date -r "$d/meta.json" +%s%3N 2>/dev/null) || continue
      size=$(stat -c %s "$d/state.bin" 2>/dev/null) || continue
      echo "{\"name\":\"$name\",\"term\":$term,\"index\":$index,\"start_ms\":$start,\"end_ms\":$end,\"bytes\":$size,\"seen_ms\":$(now_ms)}" \
        >>"$OUT/memory-snapshots.jsonl"
      seen="$seen$name "
    done
    sleep 0.5
  done
}
newest_snapshot() { # prints the JSON of the snapshot with the highest index, or nothing
  [ -s "$OUT/memory-snapshots.jsonl" ] || return 0
  jq -cs 'max_by(.index)' "$OUT/memory-snapshots.jsonl"
}

# ---------------------------------------------------------------- first run
cur_tag=node
start_node "$cur_tag"
node_url=$(wait_out "$cur_tag" 's/^ *endpoint: *//p')
debug_url=""
if [ ${#debug_flag[@]} -gt 0 ]; then
  debug_url=$(wait_out "$cur_tag" 's/^ *debug: *\(http:[^ ]*\)\/debug\/pprof\/$/\1\/debug\/pprof/p')
fi
access_key=$(sed -n 's/^ *export AWS_ACCESS_KEY_ID=//p' "$OUT/memory-$cur_tag.out" | head -n1)
region=$(sed -n 's/^ *export AWS_DEFAULT_REGION=//p' "$OUT/memory-$cur_tag.out" | head -n1)
AWS_SECRET_ACCESS_KEY=$(sed -n 's/^ *export AWS_SECRET_ACCESS_KEY=//p' "$OUT/memory-$cur_tag.out" | head -n1)
export AWS_SECRET_ACCESS_KEY
if [ -z "$access_key" ] || [ -z "$AWS_SECRET_ACCESS_KEY" ] || [ -z "$region" ]; then
  echo "bench-memory: could not read the development identity from kmsnode dev's output" >&2
  exit 1
fi
ready "$node_url"
echo "bench-memory: kmsnode $node_url (pid $node_pid, data $datadir${debug_url:+, pprof $debug_url})" >&2
watch_snapshots &
watch_pid=$!

sleep 1
m_idle=$(mem idle 1)
cpu_idle=$(cpu_pct 5)

echo "bench-memory: filling $KEYS keys × $VERSIONS versions with $CONC workers" >&2
fill_status=0
fill_start=$(now_ms)
bin/kmsfill --endpoint "$node_url" --region "$region" --access-key-id "$access_key" \
  --keys "$KEYS" --versions "$VERSIONS" --concurrency "$CONC" --json "$OUT/memory-fill.json" \
  | tee "$OUT/memory-fill.txt" || fill_status=$?
fill_end=$(now_ms)
if [ ! -s "$OUT/memory-fill.json" ]; then
  echo "bench-memory: kmsfill wrote no summary (exit $fill_status)" >&2
  exit 1
fi
m_filled=$(mem filled 0)
writes=$(jq .writes_ok "$OUT/memory-fill.json")
last_key=$(jq -r '.last_key_id // ""' "$OUT/memory-fill.json")

# Raft snapshots on its own once SNAPSHOT_THRESHOLD entries accumulated,
# at its next check (every 120–240 s). Wait for the snapshot that covers
# the fill, or for one so recent that Raft will not take another.
snap_note=""
if [ "$writes" -lt "$SNAPSHOT_THRESHOLD" ]; then
  snap_note="no automatic snapshot: $writes writes is less than Raft's SnapshotThreshold ($SNAPSHOT_THRESHOLD)"
  echo "bench-memory: $snap_note" >&2
else
  echo "bench-memory: waiting up to ${SNAP_WAIT}s for Raft's automatic snapshot of the filled state" >&2
  deadline=$(($(now_ms) + SNAP_WAIT * 1000))
  while :; do
    s=$(newest_snapshot)
    idx=$( [ -n "$s" ] && jq .index <<<"$s" || echo 0)
    # The log holds a few entries besides the fill's (bootstrap, leader
    # no-ops, the seal): idx >= writes means the snapshot has them all.
    if [ "$idx" -ge "$writes" ] || [ "$idx" -gt $((writes - SNAPSHOT_THRESHOLD + 64)) ]; then break; fi
    if [ "$(now_ms)" -ge "$deadline" ]; then
      snap_note="no snapshot of the filled state within ${SNAP_WAIT}s (BENCH_SNAPSHOT_WAIT)"
      echo "bench-memory: $snap_note" >&2
      break
    fi
    sleep 1
  done
fi
settle_start=$(now_ms)
idle_ms=$(wait_idle 120)
m_settled=$(mem settled 1)
cpu_settled=$(cpu_pct 10)
# What the data directory holds (raft.db is mmapped: its resident pages
# are the node's RssFile).
fsize() { stat -c %s "$1" 2>/dev/null || echo null; }
dsize() { local v; v=$(du -sb "$1" 2>/dev/null | cut -f1) || true; echo "${v:-null}"; }
disk=$(jq -n --argjson raft_db "$(fsize "$datadir/raft/raft.db")" --argjson audit_log "$(fsize "$datadir/audit.log")" \
  --argjson snapshots "$(dsize "$snapdir")" \
  '{raft_db_bytes: $raft_db, audit_log_bytes: $audit_log, snapshots_bytes: $snapshots}')

# The snapshot: the newest one, its contents, its timing.
snap=$(newest_snapshot)
snap_info=null
snap_log=null
if [ -n "$snap" ]; then
  sname=$(jq -r .name <<<"$snap")
  if [ -f "$snapdir/$sname/state.bin" ]; then
    snap_info=$(bin/kmsfill snapinfo "$snapdir/$sname/state.bin") || snap_info=null
  fi
  # The Raft log lines, if the node shows them: "starting snapshot up to"
  # and "snapshot complete up to" with index=N and a timestamp. Raft
  # compacts the log between the two ("compacting logs"), so the snapshot
  # itself ends there and the rest is log compaction, reported apart.
  sidx=$(jq .index <<<"$snap")
  l1=$(grep -E "starting snapshot up to.*index=$sidx\b" "$OUT/memory-node.log" | tail -n1 || true)
  l2=$(grep -E "snapshot complete up to.*index=$sidx\b" "$OUT/memory-node.log" | tail -n1 || true)
  lc=$(sed -n "/starting snapshot up to.*index=$sidx\b/,\$p" "$OUT/memory-node.log" | grep -E "compacting logs" | head -n1 || true)
  stamp() { grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)?' <<<"$1" | head -n1; }
  if [ -n "$l1" ] && [ -n "$l2" ]; then
    t1=$(stamp "$l1")
    t2=$(stamp "$l2")
    tc=""
    [ -z "$lc" ] || tc=$(stamp "$lc")
    if [ -n "$t1" ] && [ -n "$t2" ]; then
      a=$(date -d "$t1" +%s%3N)
      b=$(date -d "$t2" +%s%3N)
      c=$b
      [ -z "$tc" ] || c=$(date -d "$tc" +%s%3N)
      snap_log=$(jq -n --argjson a "$a" --argjson b "$b" --argjson c "$c" \
        '{start_ms: $a, end_ms: $c, ms: ($c - $a), complete_ms: $b, compaction_ms: ($b - $c)}')
    fi
  fi
fi
raft_lines=$(grep -cE 'starting snapshot up to|snapshot complete up to' "$OUT/memory-node.log" || true)

# ---------------------------------------------------------------- restart
echo "bench-memory: restarting the node on the same data directory" >&2
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=""
t_stop=$(now_ms)
stop_node
t_stopped=$(now_ms)

cur_tag=restart
t0=$(now_ms)
start_node "$cur_tag"
node_url=$(wait_out "$cur_tag" 's/^ *endpoint: *//p' "$RESTART_TIMEOUT")
t_endpoint=$(now_ms)
if [ ${#debug_flag[@]} -gt 0 ]; then
  debug_url=$(wait_out "$cur_tag" 's/^ *debug: *\(http:[^ ]*\)\/debug\/pprof\/$/\1\/debug\/pprof/p')
fi
ready "$node_url" "$RESTART_TIMEOUT"
t_ready=$(now_ms)
check_status=0
if [ -n "$last_key" ]; then
  bin/kmsfill check --endpoint "$node_url" --region "$region" --access-key-id "$access_key" \
    --key-id "$last_key" --versions "$VERSIONS" --timeout "${RESTART_TIMEOUT}s" >"$OUT/memory-check.txt" 2>&1 || check_status=$?
  cat "$OUT/memory-check.txt" >&2
else
  echo "bench-memory: no key was filled; nothing to check after the restart" >&2
  check_status=1
fi
t_checked=$(now_ms)
m_restarted=$(mem restarted 0)
restart_idle_ms=$(wait_idle 120)
m_restarted_gc=$(mem restarted-gc 1)
stop_node

# ---------------------------------------------------------------- report
snapshots="[]"
[ -s "$OUT/memory-snapshots.jsonl" ] && snapshots=$(jq -s 'sort_by(.index)' "$OUT/memory-snapshots.jsonl")
jq -n \
  --argjson keys "$KEYS" --argjson versions "$VERSIONS" --argjson conc "$CONC" \
  --argjson threshold "$SNAPSHOT_THRESHOLD" \
  --arg rev "$(git describe --always --dirty 2>/dev/null || echo unknown)" \
  --arg go "$("$GO" env GOVERSION)" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
  --argjson fill "$(cat "$OUT/memory-fill.json")" --argjson fill_status "$fill_status" \
  --argjson fill_ms "$((fill_end - fill_start))" \
  --argjson idle "$m_idle" --argjson filled "$m_filled" --argjson settled "$m_settled" \
  --argjson restarted "$m_restarted" --argjson restarted_gc "$m_restarted_gc" \
  --argjson snap "${snap:-null}" --argjson snap_info "$snap_info" --argjson snap_log "$snap_log" \
  --argjson snapshots "$snapshots" --argjson disk "$disk" --arg snap_note "$snap_note" --argjson raft_lines "${raft_lines:-0}" \
  --argjson settle_wait_ms "$((settle_start - fill_end))" --argjson idle_ms "$idle_ms" \
  --argjson settled_at "$settle_start" --argjson restart_idle_ms "$restart_idle_ms" \
  --argjson cpu_idle "$cpu_idle" --argjson cpu_settled "$cpu_settled" \
  --argjson stop_ms "$((t_stopped - t_stop))" --argjson endpoint_ms "$((t_endpoint - t0))" \
  --argjson ready_ms "$((t_ready - t0))" --argjson checked_ms "$((t_checked - t0))" \
  --argjson check_status "$check_status" --arg debug "$debug_url" \
  '
  def mib: . / 1024;
  {
    tool: "bench/memory.sh",
    machine: {cpus: $cpus, go: $go, kernel: $kernel},
    revision: $rev,
    config: {keys: $keys, versions: $versions, fill_concurrency: $conc, snapshot_threshold: $threshold,
             pprof: ($debug != "")},
    fill: ($fill + {exit_status: $fill_status, wall_ms: $fill_ms}),
    memory: {idle: $idle, filled: $filled, settled: $settled, restarted: $restarted, restarted_gc: $restarted_gc},
    bytes_per_key: (if $fill.keys_created > 0 then {
      rss: ((($settled.rss_kib - $idle.rss_kib) * 1024 / $fill.keys_created) | round),
      anon: ((($settled.anon_kib - $idle.anon_kib) * 1024 / $fill.keys_created) | round),
      heap_alloc: (if $settled.heap and $idle.heap then
        ((($settled.heap.HeapAlloc - $idle.heap.HeapAlloc) / $fill.keys_created) | round) else null end)
    } else null end),
    snapshot: (if $snap then ($snap + {
      persist_ms_files: ($snap.end_ms - $snap.start_ms),
      raft_log: $snap_log,
      ms: (if $snap_log then $snap_log.ms else ($snap.end_ms - $snap.start_ms) end),
      timing_source: (if $snap_log then "raft log lines, starting snapshot → compacting logs" else "snapshot file times (directory name → meta.json mtime)" end),
      contents: $snap_info,
      covers_fill: ($snap.index >= $fill.writes_ok),
      busy_after_ms: (if $settled_at - $snap.end_ms < 2000 then ($settled_at + $idle_ms - 3000 - $snap.end_ms) else null end)
    }) else null end),
    snapshot_note: $snap_note,
    disk: $disk,
    snapshots: $snapshots,
    raft_snapshot_log_lines: $raft_lines,
    settle_wait_ms: $settle_wait_ms,
    idle_wait_ms: $idle_ms,
    idle_cpu_pct: {before_fill: $cpu_idle, settled: $cpu_settled},
    restart_idle_wait_ms: $restart_idle_ms,
    restart: {stop_ms: $stop_ms, endpoint_ms: $endpoint_ms, ready_ms: $ready_ms,
              describe_ms: $checked_ms, check_ok: ($check_status == 0)},
    targets: {rss_mib_max: 500, snapshot_s_max: 5,
              rss_mib: ([$settled.rss_kib, $restarted.rss_kib, $restarted_gc.rss_kib, $filled.hwm_kib] | max | mib),
              rss_ok: (([$settled.rss_kib, $restarted.rss_kib, $restarted_gc.rss_kib, $filled.hwm_kib] | max | mib) <= 500),
              snapshot_ok: (if $snap then ((if $snap_log then $snap_log.ms else ($snap.end_ms - $snap.start_ms) end) <= 5000) else null end)}
  }' >"$OUT/memory.json"

jq -r '
  def d1: (. * 10 | round) / 10 | tostring | if test("\\.") then . else . + ".0" end;
  def mib: if . == null then "-" else (. / 1024 | d1) end;
  def bmib: if . == null then "-" else (. / 1048576 | d1) end;
  def s: ((. / 10 | round) / 100 | tostring) + " s";
  def pad(n): tostring | (" " * ([n - length, 0] | max)) + .;
  def row(name; m): "\(name | . + " " * (24 - length))\(m.rss_kib | mib | pad(8))\(m.anon_kib | mib | pad(9))\(m.file_kib | mib | pad(9))\(m.hwm_kib | mib | pad(9))\((m.heap.HeapAlloc // null) | bmib | pad(10))\((m.gctrace_live_mb // "-") | pad(9))";
  "kmsnode memory: \(.config.keys) keys × \(.config.versions) versions (\(.machine.cpus) CPUs, \(.machine.go))",
  "",
  "stage                    RSS MiB  anon MiB  file MiB  peak MiB  heap MiB  GC live",
  row("before fill (GC)"; .memory.idle),
  row("right after fill"; .memory.filled),
  row("settled (GC)"; .memory.settled),
  row("after restart"; .memory.restarted),
  row("after restart (GC)"; .memory.restarted_gc),
  "",
  "  RSS: VmRSS; anon/file: RssAnon/RssFile (file: mapped files: the binary, raft.db); peak: VmHWM;",
  "  heap: HeapAlloc after a forced GC (pprof listener); GC live: MB live after the last GC (gctrace).",
  "",
  (if .bytes_per_key then "bytes per key (settled − before): RSS \(.bytes_per_key.rss), anon \(.bytes_per_key.anon), heap \(.bytes_per_key.heap_alloc // "-")" else "bytes per key: -" end),
  "fill: \(.fill.writes_ok) writes in \(.fill.elapsed_s * 10 | round / 10) s = \(.fill.writes_per_s | round) writes/s (\(.fill.keys_per_s | round) keys/s), \(.fill.failed) failed, \(.fill.retries) retries",
  (if .snapshot then
    "snapshot: index \(.snapshot.index)\(if .snapshot.covers_fill then " (the whole fill)" else " (not the last \(.fill.writes_ok - .snapshot.index) or so writes)" end), \(.snapshot.bytes | bmib) MiB, \(.snapshot.ms | s) (\(.snapshot.timing_source))\(if .snapshot.raft_log.compaction_ms then ", then log compaction \(.snapshot.raft_log.compaction_ms | s)" else "" end)\(if .snapshot.busy_after_ms then ", then the node stays busy ~\(.snapshot.busy_after_ms | s) (log compaction)" else "" end); \(.snapshots | length) automatic snapshot(s) seen"
   else "snapshot: none — \(.snapshot_note)" end),
  (if .snapshot and .snapshot.contents then
    "  holds \(.snapshot.contents.keys) keys (\(.snapshot.contents.keys_bytes | bmib) MiB, policies \(.snapshot.contents.policy_bytes | bmib) MiB), \(.snapshot.contents.materials) materials, \(.snapshot.contents.requests) remembered request IDs (\(.snapshot.contents.requests_bytes | bmib) MiB)"
   else empty end),
  (.snapshots | map("  snapshot index \(.index): \(.bytes | bmib) MiB, \((.end_ms - .start_ms) | s)") | .[]),
  "idle CPU: \(.idle_cpu_pct.before_fill) % of a CPU before the fill, \(.idle_cpu_pct.settled) % once settled",
  "disk: raft.db \(.disk.raft_db_bytes | bmib) MiB (mmapped: its resident pages are RssFile), audit.log \(.disk.audit_log_bytes | bmib) MiB, snapshots \(.disk.snapshots_bytes | bmib) MiB",
  "restart: stopped in \(.restart.stop_ms | s); endpoint after \(.restart.endpoint_ms | s), /readyz 200 after \(.restart.ready_ms | s), DescribeKey of the last key after \(.restart.describe_ms | s)\(if .restart.check_ok then "" else " (CHECK FAILED)" end)",
  "targets: RSS ≤ 500 MiB: \(if .targets.rss_ok then "ok" else "MISSED" end) (max \(.targets.rss_mib | d1) MiB)" +
    "; snapshot ≤ 5 s: \(if .targets.snapshot_ok == null then "not measured" elif .targets.snapshot_ok then "ok" else "MISSED" end)"
' "$OUT/memory.json" | tee "$OUT/memory.txt"

if [ -n "$debug_url" ] && [ -f "$OUT/memory-heap-settled.pprof" ]; then
  "$GO" tool pprof -top -nodecount=25 -sample_index=inuse_space bin/kmsnode "$OUT/memory-heap-settled.pprof" \
    >"$OUT/memory-heap-settled.top.txt" 2>/dev/null || true
  echo "bench-memory: heap profile of the settled node: $OUT/memory-heap-settled.pprof (top: memory-heap-settled.top.txt)" >&2
fi
echo "bench-memory: wrote $OUT/memory.json, $OUT/memory.txt" >&2
status=0
if [ "$fill_status" -ne 0 ]; then echo "bench-memory: kmsfill failed (exit $fill_status)" >&2; status=1; fi
if [ "$check_status" -ne 0 ]; then echo "bench-memory: the check after the restart failed" >&2; status=1; fi
exit "$status"
