#!/usr/bin/env bash
# Compares stampede-target (--service-ms 0) with nginx (one worker, a static `return`) under
# wrk on loopback: is the simulated endpoint fast enough never to be the bottleneck of a test?
#
# Usage: bench/target_vs_nginx.sh            (after building: cmake --build build)
# Env:   BIN_DIR (default: <repo>/build/bin), DURATION (5s), CONNECTIONS (50), THREADS (2),
#        ROUNDS (3), BODY_BYTES (1024), SERVER_CPU (0), WRK_CPU (1)
# Sends traffic to 127.0.0.1 only. Installs nothing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${BIN_DIR:-$REPO/build/bin}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-50}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
BODY_BYTES="${BODY_BYTES:-1024}"
SERVER_CPU="${SERVER_CPU:-0}"
WRK_CPU="${WRK_CPU:-1}"

missing=()
for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "missing: ${missing[*]}" >&2
  echo "run scripts/setup.sh, or: sudo apt-get install wrk nginx-light util-linux" >&2
  exit 1
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
TARGET="$BIN_DIR/stampede-target"
if [[ ! -x "$TARGET" ]]; then
  echo "no $TARGET; build it first (cmake -S . -B build -G Ninja && ninja -C build" \
       "stampede-target) or set BIN_DIR" >&2
  exit 1
fi

TMP="$(mktemp -d -t stampede-bench.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listening on 127.0.0.1:$1" >&2
  return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- stampede-target, pinned to SERVER_CPU ---
taskset -c "$SERVER_CPU" "$TARGET" --host 127.0.0.1 --port 0 --service-ms 0 \
  >"$TMP/target.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "listening on" "$TMP/target.out" && break; sleep 0.05; done
TARGET_PORT="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/target.out")"
[[ -n "$TARGET_PORT" ]] || { echo "stampede-target did not start:" >&2; cat "$TMP/target.out" >&2; exit 1; }

# --- nginx, one worker, pinned to SERVER_CPU, everything it writes under $TMP ---
mkdir -p "$TMP/nginx"
user_line=""
# As root, nginx would switch its worker to 'nobody'; keep it as the current user instead.
[[ "$(id -u)" == 0 ]] && user_line="user root;"
NGINX_PORT=""
for _ in $(seq 20); do
  candidate=$((20000 + RANDOM % 40000))
  port_free "$candidate" || continue
  cat >"$TMP/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  client_body_buffer_size 16k;
  # evhttp has no per-connection request limit; lift nginx's (1000) to compare like with like.
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$candidate;
    location = /score {
      default_type application/json;
      return 200 '{"score":0.5}';
    }
  }
}
CONF
  taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
    -g 'daemon off;' >"$TMP/nginx/stdout.log" 2>&1 &
  pid=$!
  if wait_port "$candidate" 2>/dev/null && kill -0 "$pid" 2>/dev/null; then
    PIDS+=("$pid")
    NGINX_PORT="$candidate"
    break
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
[[ -n "$NGINX_PORT" ]] || { echo "nginx did not start:" >&2; cat "$TMP/nginx/"*.log >&2; exit 1; }

cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = string.rep("x", $BODY_BYTES)
wrk.headers["Content-Type"] = "application/json"
LUA

# Converts a wrk latency ("850.00us", "1.20ms", "2.00s") to milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}

# run_wrk NAME PORT DURATION: appends "rps p50_ms p99_ms" to $TMP/NAME.results.
run_wrk() {
  local out="$TMP/$1.wrk"
  taskset -c "$WRK_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$3" --latency -s "$TMP/post.lua" \
    "http://127.0.0.1:$2/score" >"$out"
  if grep -q "Non-2xx" "$out"; then
    echo "warning: $1 answered non-2xx: $(grep Non-2xx "$out")" >&2
  fi
  local rps p50 p99
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
  p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
  echo "$rps $p50 $p99" >>"$TMP/$1.results"
}

median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "stampede-target vs nginx: POST /score, ${BODY_BYTES}-byte body, wrk -t$THREADS" \
     "-c$CONNECTIONS -d$DURATION, $ROUNDS interleaved rounds"
echo "server pinned to CPU $SERVER_CPU, wrk to CPU $WRK_CPU (taskset) on $(nproc) cores;" \
     "nginx: 1 worker, static return; stampede-target: --service-ms 0, 1 thread"
# Short warm-up runs, not counted.
run_wrk warm "$NGINX_PORT" 1s
run_wrk warm "$TARGET_PORT" 1s
for round in $(seq "$ROUNDS"); do
  run_wrk nginx "$NGINX_PORT" "$DURATION"
  run_wrk stampede-target "$TARGET_PORT" "$DURATION"
  echo "round $round: nginx $(tail -1 "$TMP/nginx.results" | cut -d' ' -f1) req/s," \
       "stampede-target $(tail -1 "$TMP/stampede-target.results" | cut -d' ' -f1) req/s"
done

echo
printf '%-18s %14s %10s %10s\n' server "requests/s" "p50 ms" "p99 ms"
for name in nginx stampede-target; do
  f="$TMP/$name.results"
  printf '%-18s %14.0f %10.3f %10.3f\n' "$name" \
    "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" \
    "$(cut -d' ' -f3 "$f" | median)"
done
echo "(medians over $ROUNDS rounds; p50/p99 from wrk --latency)"
nginx_rps="$(cut -d' ' -f1 "$TMP/nginx.results" | median)"
target_rps="$(cut -d' ' -f1 "$TMP/stampede-target.results" | median)"
awk -v t="$target_rps" -v n="$nginx_rps" \
  'BEGIN { printf "stampede-target reaches %.0f%% of nginx throughput\n", 100 * t / n }'
