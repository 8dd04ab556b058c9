#!/usr/bin/env bash
# deploy/docker/stampede-agent-probe, the exec probe of deploy/k8s, against a real agent and
# coordinator on 127.0.0.1 (port 0): `ready` holds while the agent's link is up and fails once the
# coordinator is gone; `alive` holds for a running agent and fails for a stopped one.
#   agent_probe_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

build=$(cd "${1:?usage: agent_probe_test.sh BUILD_DIR}" && pwd)
probe=$here/../../deploy/docker/stampede-agent-probe
for bin in stampede stampede-agent; do
  [[ -x $build/bin/$bin ]] || fail "$build/bin/$bin is not built"
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$build/bin/stampede" serve --listen 127.0.0.1:0 --db "$tmp/db" --token probe-test \
  >"$tmp/coordinator.log" 2>&1 &
coordinator=$!
pids+=("$coordinator")
listening() { grep -q 'coordinator listening on' "$tmp/coordinator.log"; }
wait_for 20 listening || { cat "$tmp/coordinator.log"; fail "coordinator did not start"; }
address=$(sed -n 's/^coordinator listening on \([0-9.:]*\).*/\1/p' "$tmp/coordinator.log")

"$build/bin/stampede-agent" --coordinator "$address" --name probe-agent --region probe \
  --token probe-test >"$tmp/agent.log" 2>&1 &
agent=$!
pids+=("$agent")
export STAMPEDE_AGENT_PID=$agent STAMPEDE_COORDINATOR=$address

probe_ok() { "$probe" "$1" >/dev/null; }
probe_fails() { ! "$probe" "$1" >/dev/null; }
wait_for 20 probe_ok ready || { cat "$tmp/agent.log"; fail "ready never held with the link up"; }
probe_ok alive || fail "alive failed for a running agent"
STAMPEDE_AGENT_PID=$coordinator "$probe" alive >/dev/null &&
  fail "alive held for a process that is not stampede-agent"
STAMPEDE_COORDINATOR=127.0.0.1:1 "$probe" ready >/dev/null &&
  fail "ready held for a port the agent is not connected to"

kill -STOP "$agent"
wait_for 5 probe_fails alive || fail "alive held for a stopped agent"
kill -CONT "$agent"
wait_for 5 probe_ok alive || fail "alive failed after the agent was continued"

kill "$coordinator"
wait "$coordinator" || true
wait_for 20 probe_fails ready || fail "ready still held with the coordinator gone"
probe_ok alive || fail "alive failed while the agent reconnects (it must not depend on the link)"
echo "agent_probe_test: ok"
