#!/usr/bin/env bash
# The Debian packages on this machine: package the already built binaries with cpack, install
# both with dpkg (settings and secrets put in /etc/stampede first, as cloud-init does), check the
# user, modes and `stampede --version`, run each unit's ExecStart command line as the unit's user
# (coordinator on 127.0.0.1 port 0 with mutual TLS, agent dialling it) until the agent is
# registered, then `dpkg -r` (user, settings and store kept) and `dpkg -P` (all gone). Lintian, if
# installed, must report no error.
#   package_install_test.sh BUILD_DIR
# Needs root and dpkg (else it skips); installs system-wide, so runs are serialised by a lock and
# it refuses to touch a machine where Stampede is already installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

build=$(cd "${1:?usage: package_install_test.sh BUILD_DIR}" && pwd)
[[ $(id -u) -eq 0 ]] || skip "not root: dpkg -i needs root"
for tool in dpkg dpkg-deb dpkg-shlibdeps cpack openssl setpriv flock; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
for bin in stampede stampede-agent stampede-target; do
  [[ -x $build/bin/$bin ]] || fail "$build/bin/$bin is not built (build the project first)"
done

exec 9>/run/lock/stampede-package-test.lock
flock -w 120 9 || fail "another package test holds /run/lock/stampede-package-test.lock"
for pkg in stampede stampede-agent; do
  state=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ -z $state || $state == not-installed ]] ||
    skip "package $pkg is $state on this machine; this test will not touch it"
done
for path in /etc/stampede /var/lib/stampede /var/lib/stampede-agent; do
  [[ ! -e $path ]] || skip "$path exists on this machine; this test will not touch it"
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  dpkg -P stampede stampede-agent >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- build the packages from the existing build (cpack only installs and packs) ---
cpack --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
debs=("$tmp/pkg/stampede_"*.deb "$tmp/pkg/stampede-agent_"*.deb)
[[ -f ${debs[0]} && -f ${debs[1]} ]] || fail "cpack made no stampede/stampede-agent .deb"
for deb in "${debs[@]}"; do
  depends=$(dpkg-deb -f "$deb" Depends)
  [[ $depends == *libgrpc++1.51* && $depends == *adduser* ]] ||
    fail "$(basename "$deb"): Depends lacks shlibdeps or adduser: $depends"
done
if command -v lintian >/dev/null; then
  lintian --fail-on error "${debs[@]}" >"$tmp/lintian.log" 2>&1 ||
    { cat "$tmp/lintian.log"; fail "lintian reports errors"; }
  echo "lintian: no errors ($(grep -c '^W:' "$tmp/lintian.log" || true) warnings)"
else
  echo "lintian not installed: not run"
fi

# --- settings and secrets first, root-only, as cloud-init writes them before the package ---
certs=$tmp/certs
mkdir "$certs"
make_tls "$certs" 127.0.0.1 deploy-test-agent deploy-test-cli
install -d -m 0700 /etc/stampede
install -m 0644 "$certs/ca.pem" "$certs/server.pem" "$certs/deploy-test-agent.pem" /etc/stampede/
install -m 0600 "$certs/server.key" /etc/stampede/server.key
install -m 0600 "$certs/deploy-test-agent.key" /etc/stampede/agent.key
token=$(openssl rand -hex 16)
for name in coordinator agent; do
  (umask 077 && echo "$token" >"/etc/stampede/$name.token")
done
mv /etc/stampede/deploy-test-agent.pem /etc/stampede/agent.pem
cat >/etc/stampede/coordinator.env <<'ENV'
STAMPEDE_LISTEN=127.0.0.1:0
STAMPEDE_SERVE_FLAGS="--tls-client-ca /etc/stampede/ca.pem"
ENV

# --- install ---
dpkg -i "${debs[@]}" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log"; fail "dpkg -i"; }
version=$(stampede --version)
[[ $version == "stampede "* ]] || fail "stampede --version printed: $version"
[[ $(stampede-agent --version) == "stampede-agent ${version#stampede }" ]] ||
  fail "stampede-agent --version: $(stampede-agent --version), stampede: $version"
echo "installed: $version"
getent passwd stampede >/dev/null || fail "postinst made no user stampede"
[[ $(stat -c '%a %U %G' /etc/stampede) == "750 root stampede" ]] ||
  fail "/etc/stampede is $(stat -c '%a %U %G' /etc/stampede), want 750 root stampede"
for secret in server.key agent.key coordinator.token agent.token; do
  [[ $(stat -c '%a %U %G' "/etc/stampede/$secret") == "640 root stampede" ]] ||
    fail "/etc/stampede/$secret is $(stat -c '%a %U %G' "/etc/stampede/$secret")"
done
[[ $(stat -c '%U' /var/lib/stampede) == stampede ]] || fail "/var/lib/stampede not the user's"
units=/usr/lib/systemd/system
for unit in stampede-coordinator stampede-agent; do
  [[ -f $units/$unit.service ]] || fail "$unit.service not installed"
done
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$units/stampede-coordinator.service" "$units/stampede-agent.service"
fi

# --- the coordinator unit's command as its user, listening on 127.0.0.1 port 0 ---
unit_command "$units/stampede-coordinator.service" /etc/stampede/coordinator.env
[[ $UNIT_USER == stampede ]] || fail "coordinator unit runs as '$UNIT_USER'"
echo "coordinator: ${UNIT_ARGV[*]}"
setpriv --reuid stampede --regid stampede --init-groups \
  env STATE_DIRECTORY=/var/lib/stampede "${UNIT_ARGV[@]}" >"$tmp/coordinator.log" 2>&1 &
pids+=($!)
listening() { grep -q 'coordinator listening on' "$tmp/coordinator.log"; }
wait_for 20 listening || { cat "$tmp/coordinator.log"; fail "coordinator did not start"; }
address=$(sed -n 's/^coordinator listening on \([0-9.:]*\).*/\1/p' "$tmp/coordinator.log")
grep -q '(mutual TLS)' "$tmp/coordinator.log" || fail "coordinator not on mutual TLS"

# --- the agent unit's command as its user, dialling it ---
cat >/etc/stampede/agent.env <<ENV
STAMPEDE_COORDINATOR=$address
STAMPEDE_REGION=deploytest
STAMPEDE_NAME=deploy-test-agent
STAMPEDE_AGENT_FLAGS="--label pool=deploy-test --tls-cert /etc/stampede/agent.pem --tls-key /etc/stampede/agent.key"
ENV
unit_command "$units/stampede-agent.service" /etc/stampede/agent.env
[[ $UNIT_USER == stampede ]] || fail "agent unit runs as '$UNIT_USER'"
echo "agent: ${UNIT_ARGV[*]}"
install -d -m 0700 -o stampede -g stampede /var/lib/stampede-agent  # systemd's StateDirectory=
setpriv --reuid stampede --regid stampede --init-groups \
  env STATE_DIRECTORY=/var/lib/stampede-agent "${UNIT_ARGV[@]}" >"$tmp/agent.log" 2>&1 &
pids+=($!)
export STAMPEDE_TLS_CA=$certs/ca.pem STAMPEDE_TLS_CERT=$certs/deploy-test-cli.pem \
  STAMPEDE_TLS_KEY=$certs/deploy-test-cli.key STAMPEDE_TOKEN=$token
wait_for 20 agent_registered stampede "$address" deploy-test-agent deploytest ||
  { cat "$tmp/coordinator.log" "$tmp/agent.log"; fail "the agent did not register"; }
echo "agent registered with $address"
[[ -d /var/lib/stampede-agent/spool ]] || fail "the agent made no spool in its state directory"
kill "${pids[@]}"
wait "${pids[@]}" || true
pids=()

# --- remove: binaries gone; user, settings and store kept ---
dpkg -r stampede stampede-agent >"$tmp/dpkg-r.log" 2>&1 || { cat "$tmp/dpkg-r.log"; fail "dpkg -r"; }
left=$(compgen -G '/usr/bin/stampede*' || true)
[[ -z $left ]] || fail "left in /usr/bin after dpkg -r: $left"
getent passwd stampede >/dev/null || fail "dpkg -r deleted the user"
[[ -f /etc/stampede/server.key && -f /var/lib/stampede/stampede.db ]] ||
  fail "dpkg -r deleted settings or the store"

# --- purge: everything gone ---
dpkg -P stampede stampede-agent >"$tmp/dpkg-p.log" 2>&1 || { cat "$tmp/dpkg-p.log"; fail "dpkg -P"; }
! getent passwd stampede >/dev/null || fail "dpkg -P left the user"
! getent group stampede >/dev/null || fail "dpkg -P left the group"
for path in /etc/stampede /var/lib/stampede /var/lib/stampede-agent /usr/lib/systemd/system/stampede-agent.service; do
  [[ ! -e $path ]] || fail "dpkg -P left $path"
done
echo "package_install_test: ok"
