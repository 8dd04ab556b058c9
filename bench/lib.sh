# shellcheck shell=bash
# Helpers shared by the bench/*.sh scripts. Source it (`. "$(dirname "$0")/lib.sh"`); it only
# defines functions and changes no shell option. Everything here talks to 127.0.0.1 only and
# installs nothing.

# bench_require_tools TOOL...: exits 1, naming what installs them, when a tool is missing.
# Looks in /usr/sbin too (nginx lives there and is not on a normal user's PATH).
bench_require_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || [[ -x "/usr/sbin/$tool" ]] || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    local pkgs=() t
    for t in "${missing[@]}"; do
      case "$t" in
        nginx) pkgs+=(nginx-light) ;;
        taskset) pkgs+=(util-linux) ;;
        *) pkgs+=("$t") ;;
      esac
    done
    echo "missing: ${missing[*]}" >&2
    echo "scripts/setup.sh installs them (or: sudo apt-get install ${pkgs[*]})" >&2
    exit 1
  fi
}

# bench_tool_path TOOL: prints the tool's path (PATH first, then /usr/sbin).
bench_tool_path() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

# bench_port_open PORT: true when something accepts connections on 127.0.0.1:PORT.
bench_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bench_free_port: prints a port on 127.0.0.1 that the kernel says is free. Uses the system
# Python (/usr/bin/python3, not whatever python3 is first on PATH); without it, probes random
# ports (bounded).
bench_free_port() {
  if [[ -x /usr/bin/python3 ]]; then
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
    return
  fi
  local _ port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    bench_port_open "$port" || { echo "$port"; return 0; }
  done
  echo "bench_free_port: no free port found" >&2
  return 1
}

# bench_wait_port PORT [TRIES]: waits (TRIES x 50 ms, default 100) for 127.0.0.1:PORT to accept.
bench_wait_port() {
  local _
  for _ in $(seq "${2:-100}"); do
    bench_port_open "$1" && return 0
    sleep 0.05
  done
  echo "nothing listening on 127.0.0.1:$1" >&2
  return 1
}

# bench_nginx_start DIR PORT: writes DIR/nginx.conf (1 worker, access_log off, keep-alive for
# 1e6 requests, `POST /score` answered by a static {"score":0.5}) and starts nginx as a daemon
# whose pid file, temp paths and logs all live in DIR. Stop it with bench_nginx_stop DIR.
bench_nginx_start() {
  local dir="$1" port="$2" nginx user_line=""
  nginx="$(bench_tool_path nginx)"
  mkdir -p "$dir"
  # As root, nginx would switch its worker to 'nobody', which cannot enter a 0700 mktemp dir.
  [[ "$(id -u)" == 0 ]] && user_line="user root;"
  cat >"$dir/nginx.conf" <<CONF
$user_line
daemon on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$port;
    location = /score {
      client_body_buffer_size 64k;
      default_type application/json;
      return 200 '{"score":0.5}';
    }
  }
}
CONF
  if ! "$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/start.log" 2>&1; then
    echo "nginx did not start:" >&2
    cat "$dir/start.log" "$dir/error.log" >&2 2>/dev/null || true
    return 1
  fi
  local _
  for _ in $(seq 100); do [[ -s "$dir/nginx.pid" ]] && break; sleep 0.05; done
  bench_wait_port "$port"
}

# bench_nginx_stop DIR: stops the nginx started by bench_nginx_start DIR (by its pid file only)
# and waits up to 5 s for its master to go.
bench_nginx_stop() {
  local pidfile="$1/nginx.pid" pid _
  [[ -s "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# bench_timed TIMEFILE OUT ERR CMD...: runs CMD with stdout in OUT and stderr in ERR, and writes
# the CPU seconds it used, "USER SYS", to TIMEFILE. Uses bash's `time` keyword (getrusage of the
# waited-for child), so it needs no /usr/bin/time. Returns CMD's exit status.
bench_timed() {
  local tf="$1" out="$2" err="$3" rc=0
  shift 3
  local TIMEFORMAT='%3U %3S'
  { time "$@" >"$out" 2>"$err"; } 2>"$tf" || rc=$?
  return "$rc"
}

# bench_rss_kb PID: the process's resident set (VmRSS, kB), or nothing when it is gone.
bench_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }

# bench_median: median of the numbers on stdin (one per line; "nan" when there are none).
bench_median() {
  sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) print "nan"
    else if (NR % 2) print a[(NR + 1) / 2]
    else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# bench_to_ms VALUE: converts a duration with a unit ("850.00us", "1.20ms", "2.00s", "3m") to ms.
bench_to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "nan" }'
}
