#!/usr/bin/env bash
# A three-region Stampede run on one Linux machine, over simulated wide-area links: one network
# namespace per region (its agent and its own stampede-target), the coordinator in another, and
# on each region's path to the coordinator a stampede-delay-relay adding the region's delay
# (no netem needed). One region's agent runs with its clock shifted (libfaketime). Prints the
# report, the clock offsets the coordinator measured, and each region's server-side count next to
# the report's (exit 1 if they differ or the run fails). Everything it creates is removed when it
# exits. Needs root (network namespaces). See README.md.
#
#   sudo examples/multiregion/run.sh [--bin DIR] [--rate N] [--duration 10s] [--keep-logs]
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

here=$(cd "$(dirname "$0")" && pwd)
bin=""
rate=100
duration=10s
keep_logs=0
while (($#)); do
  case $1 in
    --bin) bin=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --keep-logs) keep_logs=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

# The binaries: --bin, else the build tree next to this example, else PATH (the packages).
if [[ -z $bin && -x $here/../../build/bin/stampede ]]; then bin=$(cd "$here/../../build/bin" && pwd); fi
find_bin() {
  if [[ -n $bin ]]; then echo "$bin/$1"; else command -v "$1" || echo "$1"; fi
}
stampede=$(find_bin stampede)
agent=$(find_bin stampede-agent)
target=$(find_bin stampede-target)
relay=$(find_bin stampede-delay-relay)
for b in "$stampede" "$agent" "$target" "$relay"; do
  [[ -x $b ]] || { echo "run.sh: $b not found: build it (cmake --build build --target stampede stampede-agent stampede-target stampede-delay-relay) or pass --bin" >&2; exit 2; }
done
if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: network namespaces need root: sudo $0" >&2
  exit 2
fi

# The regions: name, one-way delay up (agent -> coordinator) and down in ms, jitter in ms, and
# the agent's clock shift (libfaketime's FAKETIME syntax; empty: the true clock).
regions=(eastus westeurope southeastasia)
up_ms=(10 60 125)
down_ms=(10 30 125)
jitter_ms=(2 5 5)
clock_shift=("" "" "+3s")

faketime_lib=""
for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
  if [[ -e $f ]]; then faketime_lib=$f; break; fi
done
if [[ -z $faketime_lib ]]; then
  echo "run.sh: libfaketime is not installed (apt-get install faketime): no clock is shifted" >&2
  clock_shift=("" "" "")
fi

# Names unique to this run, so that two runs (or a test) do not collide.
tag="smr$$"
coord_ns="$tag-coord"
region_ns=()
for i in "${!regions[@]}"; do region_ns+=("$tag-${regions[$i]}"); done
work=$(mktemp -d "/tmp/stampede-multiregion.XXXXXX")
pids=()

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "$coord_ns" "${region_ns[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if ((keep_logs)); then echo "logs and store kept in $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for a line matching $2 in file $1; prints it.
wait_line() {
  local i
  for ((i = 0; i < 200; i++)); do
    if grep -m1 -- "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "run.sh: no \"$2\" in $1:" >&2
  cat "$1" >&2
  return 1
}

# Starts a command in a namespace in the background, output to a log; records its pid.
start_in() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  pids+=($!)
}

echo "== network: namespaces $coord_ns and ${region_ns[*]}"
ip netns add "$coord_ns"
ip -n "$coord_ns" link set lo up
for i in "${!regions[@]}"; do
  ns=${region_ns[$i]}
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  # One veth pair per region, created inside the namespaces (nothing in the root namespace).
  ip -n "$coord_ns" link add "c$i" type veth peer name "r$i" netns "$ns"
  ip -n "$coord_ns" addr add "10.77.$i.1/24" dev "c$i"
  ip -n "$coord_ns" link set "c$i" up
  ip -n "$ns" addr add "10.77.$i.2/24" dev "r$i"
  ip -n "$ns" link set "r$i" up
done

echo "== coordinator (namespace $coord_ns)"
start_in "$coord_ns" "$work/serve.log" "$stampede" serve --listen 127.0.0.1:0 --db "$work/stampede.db"
line=$(wait_line "$work/serve.log" "coordinator listening on")
coordinator=${line#*listening on }
coordinator=${coordinator%%,*}
echo "   $coordinator"

echo "== one stampede-target per region, all on the same port inside their namespaces"
target_port=""
for i in "${!regions[@]}"; do
  start_in "${region_ns[$i]}" "$work/target-$i.log" "$target" --port "${target_port:-0}" \
    --replicas 4 --concurrency 16 --queue 64 --service-ms 5
  line=$(wait_line "$work/target-$i.log" "listening on")
  target_port=${line##*:}
done
echo "   127.0.0.1:$target_port in each region"

echo "== delay relays on each region's path to the coordinator, and the agents"
for i in "${!regions[@]}"; do
  start_in "$coord_ns" "$work/relay-$i.log" "$relay" --listen "10.77.$i.1:0" --to "$coordinator" \
    --up-delay-ms "${up_ms[$i]}" --down-delay-ms "${down_ms[$i]}" --jitter-ms "${jitter_ms[$i]}" \
    --seed "$((i + 1))"
  line=$(wait_line "$work/relay-$i.log" "listening on")
  relay_address=${line#listening on }
  clock=(env)
  if [[ -n ${clock_shift[$i]} ]]; then
    # CLOCK_REALTIME shifted, CLOCK_MONOTONIC left alone (the agent schedules on the latter).
    clock=(env "LD_PRELOAD=$faketime_lib" "FAKETIME=${clock_shift[$i]}" FAKETIME_DONT_FAKE_MONOTONIC=1)
  fi
  start_in "${region_ns[$i]}" "$work/agent-$i.log" "${clock[@]}" "$agent" \
    --coordinator "$relay_address" --name "agent-${regions[$i]}" --region "${regions[$i]}" \
    --threads 1
  printf '   %-14s round trip %3d ms (up %3d, down %3d) +/- %d ms jitter, clock %s\n' \
    "${regions[$i]}" "$((up_ms[i] + down_ms[i]))" "${up_ms[$i]}" "${down_ms[$i]}" \
    "${jitter_ms[$i]}" "${clock_shift[$i]:-true}"
done

cli() { ip netns exec "$coord_ns" "$stampede" "$@" --coordinator "$coordinator"; }
for ((i = 0; i < 200; i++)); do
  idle=$(cli agents 2>/dev/null | grep -c ' idle ' || true)
  if ((idle == ${#regions[@]})); then break; fi
  sleep 0.1
done
if ((idle != ${#regions[@]})); then
  echo "run.sh: only $idle of ${#regions[@]} agents registered" >&2
  tail -n 5 "$work"/agent-*.log >&2
  exit 1
fi

cat >"$work/payload.json" <<'EOF'
{"inputs": [[1, 2, 3]]}
EOF
cat >"$work/plan.json" <<EOF
{
  "name": "multiregion",
  "target": {"url": "http://127.0.0.1:$target_port/score",
             "headers": {"Content-Type": "application/json"}, "payloadFile": "payload.json"},
  "agents": {"regions": ["eastus", "westeurope", "southeastasia"]},
  "stages": [{"rate": $rate, "duration": "$duration"}]
}
EOF

echo "== run: $rate requests/s per agent for $duration"
status=0
# The report as JSON for the checks below (progress on stderr), then as text for the reader.
cli run "$work/plan.json" --quiet --json >"$work/report.json" || status=$?
run_id=$(grep -m1 -o '"runId": "[^"]*"' "$work/report.json" | cut -d'"' -f4)
[[ -n $run_id ]] || { echo "run.sh: the run did not start" >&2; cat "$work/report.json" >&2; exit 1; }
cli report "$run_id"

echo "== clock offsets the coordinator measured (agent minus coordinator)"
cli agents

echo "== each region: the report's requests and what its stampede-target served (/stats)"
for i in "${!regions[@]}"; do
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  stats=$(ip netns exec "${region_ns[$i]}" bash -c \
    'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "GET /stats HTTP/1.0\r\n\r\n" >&3; cat <&3' _ \
    "$target_port" | tail -n 1)
  served=${stats#*\"requests\":}
  served=${served%%[,\}]*}
  reported=$(grep -m1 -o "\"${regions[$i]}\": {\"agents\": [0-9]*, \"requests\": [0-9]*" \
    "$work/report.json" | grep -o '[0-9]*$' || true)
  verdict=same
  if [[ $served != "$reported" ]]; then verdict=DIFFERENT; status=1; fi
  printf '   %-14s report %6s   server %6s   %s\n' "${regions[$i]}" "${reported:-?}" "$served" \
    "$verdict"
done
exit "$status"
