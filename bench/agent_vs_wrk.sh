#!/usr/bin/env bash
# Compares stampede-agent's load engine with wrk and hey: same server, same 1 KiB JSON POST, same
# concurrency, keep-alive. For every run: requests/s, p50, p99 (each tool's own figures) and the
# tool's own CPU time (user+sys), hence requests per client CPU-second. Runs are interleaved in
# pairs (wrk and the agent back to back, order alternating, hey after them) and the medians are
# compared, so that a noisy machine (builds next door) hits every tool alike.
#
# Usage: bench/agent_vs_wrk.sh                (after: ninja -C build stampede-agent)
#        MODE=latency bench/agent_vs_wrk.sh   (client overhead against stampede-target, 5 ms)
#        MEMCHECK=1 bench/agent_vs_wrk.sh     (adds a LONG-second RSS check of the agent)
# Env:   MODE       throughput (default) | latency | both
#        C          concurrency, throughput mode (50); LAT_C: latency mode (20)
#        DURATION   seconds per run (5; "5s" works too)
#        PAIRS      interleaved rounds (5); HEY=0 leaves hey out
#        THREADS    wrk -t and agent --threads (2)
#        MEMCHECK=1 LONG=60  the agent alone for LONG s at c=C, VmRSS sampled every 5 s
#        BIN_DIR    where stampede-agent / stampede-target are (default <repo>/build/bin)
# Needs wrk, hey and nginx (Debian: wrk, hey, nginx-light; scripts/setup.sh installs them).
# Every process runs unpinned; nginx has one worker. Traffic goes to 127.0.0.1 only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"

BIN_DIR="${BIN_DIR:-$REPO/build/bin}"
MODE="${MODE:-throughput}"
C="${C:-50}"
LAT_C="${LAT_C:-20}"
DURATION="${DURATION:-5}"
DURATION="${DURATION%s}"
PAIRS="${PAIRS:-5}"
HEY="${HEY:-1}"
THREADS="${THREADS:-2}"
MEMCHECK="${MEMCHECK:-0}"
LONG="${LONG:-60}"
SERVICE_MS=5

for v in C LAT_C DURATION PAIRS THREADS LONG; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "$v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
case "$MODE" in throughput | latency | both) ;; *)
  echo "MODE must be throughput, latency or both, got '$MODE'" >&2; exit 2 ;;
esac

tools=(wrk nginx)
[[ "$HEY" == 1 ]] && tools+=(hey)
bench_require_tools "${tools[@]}"
AGENT="$BIN_DIR/stampede-agent"
TARGET="$BIN_DIR/stampede-target"
if [[ ! -x "$AGENT" ]]; then
  echo "no $AGENT; build it first (ninja -C build stampede-agent) or set BIN_DIR" >&2
  exit 1
fi

TMP="$(mktemp -d -t stampede-agent-bench.XXXXXX)"
BG_PIDS=()
cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  bench_nginx_stop "$TMP/nginx"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the request: a 1 KiB JSON body, the same bytes for every tool ---
PAYLOAD="$TMP/payload.json"
awk 'BEGIN {
  s = "{\"model\":\"bench\",\"features\":["
  for (i = 0; length(s) < 960; i++) s = s (i ? "," : "") sprintf("%.4f", (i * 7919 % 10007) / 10007)
  s = s "],\"pad\":\""
  while (length(s) < 1022) s = s "x"
  printf "%s\"}", s
}' >"$PAYLOAD"
[[ "$(wc -c <"$PAYLOAD")" == 1024 ]] || { echo "payload is not 1024 bytes" >&2; exit 1; }

cat >"$TMP/post.lua" <<LUA
local f = assert(io.open("$PAYLOAD", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

# write_plan FILE URL CONCURRENCY SECONDS: a one-stage closed plan.
write_plan() {
  cat >"$1" <<JSON
{
  "name": "agent-vs-wrk",
  "target": {
    "url": "$2",
    "method": "POST",
    "headers": {"Content-Type": "application/json"},
    "payloadFile": "$PAYLOAD",
    "timeout": "5s"
  },
  "stages": [{"concurrency": $3, "duration": "${4}s"}]
}
JSON
}

# json_num FILE KEY: the first (top-level) numeric value of "KEY" in the agent's --json summary.
json_num() {
  grep -o "\"$2\": [-0-9.e+]*" "$1" | head -1 | awk '{print $2}'
}

# Each run_* appends one line to $RESULTS:
#   label pair tool requests rps p50_ms p99_ms user_s sys_s errors
RESULTS=""

run_wrk() {  # label pair url concurrency seconds
  local o="$TMP/run.out" e="$TMP/run.err" t="$TMP/run.time"
  bench_timed "$t" "$o" "$e" wrk -t"$THREADS" -c"$4" -d"${5}s" --latency -s "$TMP/post.lua" "$3" ||
    { echo "wrk failed:" >&2; cat "$e" "$o" >&2; exit 1; }
  local requests rps p50 p99 errors
  requests="$(awk '/ requests in / {print $1}' "$o")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$o")"
  p50="$(bench_to_ms "$(awk '$1 == "50%" {print $2}' "$o")")"
  p99="$(bench_to_ms "$(awk '$1 == "99%" {print $2}' "$o")")"
  errors="$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
                END {print n + 0}' "$o")"
  echo "$1 $2 wrk $requests $rps $p50 $p99 $(cat "$t") $errors" >>"$RESULTS"
}

run_agent() {  # label pair url concurrency seconds
  local o="$TMP/run.out" e="$TMP/run.err" t="$TMP/run.time" plan="$TMP/plan.json"
  write_plan "$plan" "$3" "$4" "$5"
  bench_timed "$t" "$o" "$e" "$AGENT" run "$plan" --threads "$THREADS" --json --quiet ||
    { echo "stampede-agent failed:" >&2; cat "$e" "$o" >&2; exit 1; }
  local requests rps p50 p99 errors
  requests="$(json_num "$o" requests)"
  rps="$(json_num "$o" throughputRps)"
  p50="$(json_num "$o" p50)"
  p99="$(json_num "$o" p99)"
  errors="$(json_num "$o" errors)"
  echo "$1 $2 agent $requests $rps $p50 $p99 $(cat "$t") $errors" >>"$RESULTS"
}

run_hey() {  # label pair url concurrency seconds
  local o="$TMP/run.out" e="$TMP/run.err" t="$TMP/run.time"
  bench_timed "$t" "$o" "$e" hey -c "$4" -z "${5}s" -m POST -D "$PAYLOAD" -T application/json \
    "$3" || { echo "hey failed:" >&2; cat "$e" "$o" >&2; exit 1; }
  local requests rps p50 p99 errors
  # hey prints no total: sum the status-code counts and the error counts.
  requests="$(awk '/^Status code distribution:/ {s = 1; next} /^Error distribution:/ {s = 2; next}
                   s == 1 && /^ *\[[0-9]+\]/ {n += $2} s == 2 && /^ *\[[0-9]+\]/ {
                     gsub(/[][]/, "", $1); n += $1 } END {print n + 0}' "$o")"
  rps="$(awk '/Requests\/sec:/ {print $2}' "$o")"
  p50="$(awk '$1 == "50%" {printf "%.3f", $3 * 1000}' "$o")"
  p99="$(awk '$1 == "99%" {printf "%.3f", $3 * 1000}' "$o")"
  errors="$(awk '/^Status code distribution:/ {s = 1; next} /^Error distribution:/ {s = 2; next}
                 s == 1 && /^ *\[[0-9]+\]/ {code = $1; gsub(/[][]/, "", code); if (code != 200) n += $2}
                 s == 2 && /^ *\[[0-9]+\]/ {gsub(/[][]/, "", $1); n += $1} END {print n + 0}' "$o")"
  echo "$1 $2 hey $requests $rps $p50 $p99 $(cat "$t") $errors" >>"$RESULTS"
}

ROW_FMT='%-5s %-6s %10s %9s %9s %8s %7s %7s %10s %7s\n'
print_header() {
  # shellcheck disable=SC2059
  printf "$ROW_FMT" pair tool requests "req/s" "p50 ms" "p99 ms" "user s" "sys s" "req/CPU-s" errors
}
print_last() {
  tail -1 "$RESULTS" | awk -v fmt="$ROW_FMT" '{
    cpu = $8 + $9
    printf fmt, $2, $3, $4, sprintf("%.0f", $5), sprintf("%.3f", $6), sprintf("%.3f", $7),
      $8, $9, (cpu > 0 ? sprintf("%.0f", $4 / cpu) : "inf"), $10 }'
}

# col LABEL TOOL N: the Nth field of TOOL's rows for LABEL (N: 4 requests, 5 rps, 6 p50 ...);
# N = "rpc" gives requests per CPU-second, "cpu" CPU seconds per wall second (cores used).
col() {
  awk -v l="$1" -v t="$2" -v n="$3" -v d="$DURATION" '$1 == l && $3 == t {
    if (n == "rpc") print ($8 + $9 > 0 ? $4 / ($8 + $9) : 0)
    else if (n == "cpu") print ($8 + $9) / d
    else print $n }' "$RESULTS"
}
med() { col "$@" | bench_median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
verdict() { awk -v r="$1" -v m="$2" 'BEGIN { print (r >= m ? "ok (>= " m ")" : "BELOW " m) }'; }

machine_line() {
  local model
  model="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
  echo "machine: $(nproc) cores${model:+ ($model)}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# --- throughput mode: nginx, c=C ---
throughput_mode() {
  local port url pair
  port="$(bench_free_port)"
  bench_nginx_start "$TMP/nginx" "$port"
  url="http://127.0.0.1:$port/score"
  RESULTS="$TMP/throughput.results"
  : >"$RESULTS"

  echo "== stampede-agent vs wrk and hey: POST $url, 1 KiB JSON body, c=$C, ${DURATION}s per run,"
  echo "   $PAIRS interleaved pairs, keep-alive; wrk -t$THREADS, agent --threads $THREADS," \
       "hey (GOMAXPROCS = cores)"
  echo "   nginx: 1 worker, static return; nothing pinned"
  machine_line
  # Warm-up (not counted): page cache, nginx, connection setup paths.
  run_wrk warm 0 "$url" "$C" 1
  run_agent warm 0 "$url" "$C" 1
  echo
  print_header
  for pair in $(seq "$PAIRS"); do
    if ((pair % 2)); then
      run_wrk main "$pair" "$url" "$C" "$DURATION"; print_last
      run_agent main "$pair" "$url" "$C" "$DURATION"; print_last
    else
      run_agent main "$pair" "$url" "$C" "$DURATION"; print_last
      run_wrk main "$pair" "$url" "$C" "$DURATION"; print_last
    fi
    if [[ "$HEY" == 1 ]]; then run_hey main "$pair" "$url" "$C" "$DURATION"; print_last; fi
  done

  echo
  echo "medians over $PAIRS runs per tool:"
  printf '%-6s %10s %9s %9s %10s %11s\n' tool "req/s" "p50 ms" "p99 ms" "req/CPU-s" "CPU cores"
  local t names=(wrk agent)
  [[ "$HEY" == 1 ]] && names+=(hey)
  for t in "${names[@]}"; do
    printf '%-6s %10.0f %9.3f %9.3f %10.0f %11.2f\n' "$t" "$(med main "$t" 5)" \
      "$(med main "$t" 6)" "$(med main "$t" 7)" "$(med main "$t" rpc)" "$(med main "$t" cpu)"
  done
  local r_rps r_rpc
  r_rps="$(ratio "$(med main agent 5)" "$(med main wrk 5)")"
  r_rpc="$(ratio "$(med main agent rpc)" "$(med main wrk rpc)")"
  echo
  echo "agent/wrk requests/s:          $r_rps  $(verdict "$r_rps" 0.8)"
  echo "agent/wrk requests/CPU-second: $r_rpc  $(verdict "$r_rpc" 0.8)"
  if [[ "$HEY" == 1 ]]; then
    echo "agent/hey requests/s:          $(ratio "$(med main agent 5)" "$(med main hey 5)")"
    echo "agent/hey requests/CPU-second: $(ratio "$(med main agent rpc)" "$(med main hey rpc)")"
  fi
  # Per-pair ratios show how much of the spread is the machine rather than the tools.
  echo "per-pair agent/wrk req/s: $(awk '$1 == "main" {r[$2 " " $3] = $5; if ($2 > n) n = $2}
    END {for (k = 1; k <= n; k++) printf "%s ", (r[k " wrk"] > 0 ? sprintf("%.2f", r[k " agent"] / r[k " wrk"]) : "nan"); print ""}' \
    "$RESULTS")"
  local errs
  errs="$(awk '$1 == "main" {n += $10} END {print n + 0}' "$RESULTS")"
  ((errs == 0)) || echo "WARNING: $errs failed or non-2xx requests in total (see the errors column)"

  if [[ "$MEMCHECK" == 1 ]]; then memcheck "$url"; fi
  bench_nginx_stop "$TMP/nginx"
}

# --- memory: the agent alone for LONG s at c=C, VmRSS every 5 s ---
memcheck() {
  local url="$1" plan="$TMP/long.json" pid i rss at10="" last="" samples=()
  write_plan "$plan" "$url" "$C" "$((LONG + 3))"
  echo
  echo "== memory: stampede-agent alone, c=$C, ${LONG}s (plan $((LONG + 3))s), VmRSS every 5 s"
  "$AGENT" run "$plan" --threads "$THREADS" --json --quiet >"$TMP/long.out" 2>"$TMP/long.err" &
  pid=$!
  BG_PIDS+=("$pid")
  for i in $(seq $((LONG / 5))); do
    sleep 5
    rss="$(bench_rss_kb "$pid")"
    [[ -n "$rss" ]] || break
    samples+=("$((i * 5))s:${rss}kB")
    ((i * 5 == 10)) && at10="$rss"
    last="$rss"
  done
  wait "$pid" || { echo "stampede-agent (memory run) failed:" >&2; cat "$TMP/long.err" >&2; }
  echo "VmRSS: ${samples[*]}"
  echo "memory run: $(json_num "$TMP/long.out" requests) requests," \
       "$(json_num "$TMP/long.out" throughputRps) req/s"
  if [[ -n "$at10" && -n "$last" ]]; then
    awk -v a="$at10" -v b="$last" 'BEGIN {
      d = (b - a) / a * 100
      printf "last vs 10 s: %+.1f%% -> %s\n", d, (d <= 10 && d >= -10 ? "flat (within 10%)" : "NOT flat") }'
  else
    echo "memory: not enough samples (run shorter than 10 s?)"
  fi
}

# --- latency mode: stampede-target with a 5 ms service time, c=LAT_C ---
latency_mode() {
  if [[ ! -x "$TARGET" ]]; then
    echo "== latency mode skipped: no $TARGET (build it: ninja -C build stampede-target)"
    return 0
  fi
  "$TARGET" --host 127.0.0.1 --port 0 --service-ms "$SERVICE_MS" --replicas 4 --concurrency 16 \
    --queue 64 >"$TMP/target.out" 2>&1 &
  local pid=$! port="" _ url pair
  BG_PIDS+=("$pid")
  for _ in $(seq 100); do
    port="$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$TMP/target.out")"
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n "$port" ]] || { echo "stampede-target did not start:" >&2; cat "$TMP/target.out" >&2; exit 1; }
  url="http://127.0.0.1:$port/score"
  RESULTS="$TMP/latency.results"
  : >"$RESULTS"

  echo
  echo "== client latency overhead: stampede-target --service-ms $SERVICE_MS --replicas 4" \
       "--concurrency 16 --queue 64"
  echo "   POST $url, c=$LAT_C, ${DURATION}s per run, $PAIRS interleaved pairs; overhead = p50 - $SERVICE_MS ms"
  machine_line
  run_wrk warm 0 "$url" "$LAT_C" 1
  run_agent warm 0 "$url" "$LAT_C" 1
  echo
  print_header
  for pair in $(seq "$PAIRS"); do
    if ((pair % 2)); then
      run_wrk lat "$pair" "$url" "$LAT_C" "$DURATION"; print_last
      run_agent lat "$pair" "$url" "$LAT_C" "$DURATION"; print_last
    else
      run_agent lat "$pair" "$url" "$LAT_C" "$DURATION"; print_last
      run_wrk lat "$pair" "$url" "$LAT_C" "$DURATION"; print_last
    fi
  done
  echo
  echo "medians over $PAIRS runs per tool:"
  printf '%-6s %10s %9s %9s %14s %14s\n' tool "req/s" "p50 ms" "p99 ms" "p50 overhead" "p99 - service"
  local t p50 p99
  for t in wrk agent; do
    p50="$(med lat "$t" 6)"
    p99="$(med lat "$t" 7)"
    printf '%-6s %10.0f %9.3f %9.3f %11.3f ms %11.3f ms\n' "$t" "$(med lat "$t" 5)" "$p50" "$p99" \
      "$(awk -v p="$p50" -v s="$SERVICE_MS" 'BEGIN {print p - s}')" \
      "$(awk -v p="$p99" -v s="$SERVICE_MS" 'BEGIN {print p - s}')"
  done
  echo "(the overhead includes the server's own timer slack and loopback, the same for both tools)"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

case "$MODE" in
  throughput) throughput_mode ;;
  latency) latency_mode ;;
  both) throughput_mode; latency_mode ;;
esac
