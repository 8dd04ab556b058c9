#!/usr/bin/env bash
# deploy/azure/stampede-azure against a stand-in `az` (tests/deploy/fake-az/az) that records its
# calls and answers canned JSON; no real az is ever called. Checks what `up` makes (regions,
# names, identities, vault contents, the NSG rule, no secret in custom data), that a second `up`
# makes nothing, that the settings cloud-init writes work as written (the coordinator's and an
# agent's unit command lines, run from the rendered files and the vault's secrets, until the agent
# registers with its region on 127.0.0.1), `status`, and that `down` deletes all `up` made.
#   azure_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

build=$(cd "${1:?usage: azure_test.sh BUILD_DIR}" && pwd)
source_dir=$(cd "$here/../.." && pwd)
script=$source_dir/deploy/azure/stampede-azure
for tool in openssl ssh-keygen; do command -v "$tool" >/dev/null || skip "$tool is not installed"; done
/usr/bin/python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
for bin in stampede stampede-agent; do
  [[ -x $build/bin/$bin ]] || fail "$build/bin/$bin is not built"
done

tmp=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export FAKE_AZ_STATE=$tmp/az-state FAKE_AZ_LOG=$tmp/az.log STAMPEDE_AZURE_HOME=$tmp/home
export PATH=$here/fake-az:$build/bin:$PATH
mkdir -p "$FAKE_AZ_STATE" "$tmp/debs"
echo "stand-in package" >"$tmp/debs/stampede_0.1.0_amd64.deb"
echo "stand-in agent package" >"$tmp/debs/stampede-agent_0.1.0_amd64.deb"
rg=stampede-test
regions=eastus,westeurope,southeastasia
up=(up --resource-group "$rg" --regions "$regions" --agents-per-region 2
  --client-cidr 127.0.0.0/8 --packages "$tmp/debs")

# --- up: what it made ---
"$script" "${up[@]}" 2>"$tmp/up1.err" || { cat "$tmp/up1.err"; fail "up"; }
cp "$FAKE_AZ_LOG" "$tmp/up1.log"
/usr/bin/python3 - "$tmp/up1.log" "$rg" "$FAKE_AZ_STATE" <<'PY' || fail "up made the wrong things"
import glob, json, os, sys
log, rg, state = sys.argv[1:]
calls = [json.loads(l) for l in open(log)]
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)
def opt(c, n):
    return c[c.index(n) + 1] if n in c else None
creates = [c for c in calls if "create" in c or "set" in c or "set-policy" in c or "upload" in c]
check(not any(c[0] == "login" for c in calls), "az login called")
# Everything in the one group.
groups = [c for c in calls if c[:2] == ["group", "create"]]
check(len(groups) == 1 and opt(groups[0], "-n") == rg and opt(groups[0], "-l") == "eastus",
      f"group create: {groups}")
for c in creates:
    if c[0] in ("group", "keyvault", "storage") and "-g" not in c:
        continue
    check(opt(c, "-g") in (None, rg), f"outside the group: {c}")
# VMs: the coordinator in the first region, two agents per region, each in its region.
vms = {opt(c, "-n"): c for c in calls if c[:2] == ["vm", "create"]}
want = {"stampede-coordinator": "eastus"}
for r in ["eastus", "westeurope", "southeastasia"]:
    for i in (1, 2):
        want[f"stampede-agent-{r}-{i}"] = r
check({n: opt(c, "-l") for n, c in vms.items()} == want, f"VMs: {sorted(vms)}")
for n, c in vms.items():
    r = opt(c, "-l")
    check(opt(c, "--image").startswith("Debian:debian-12:"), f"{n} image")
    check(opt(c, "--vnet-name") == f"stampede-{r}-vnet", f"{n} VNet")
    role = "coordinator" if n == "stampede-coordinator" else "agents"
    check(opt(c, "--assign-identity").endswith(f"/stampede-{role}-id"), f"{n} identity")
    nsg = "stampede-coordinator-nsg" if role == "coordinator" else f"stampede-{r}-nsg"
    check(opt(c, "--nsg") == nsg, f"{n} NSG {opt(c, '--nsg')}")
    check(opt(c, "--public-ip-address") == f"{n}-ip", f"{n} public address")
    data = open(opt(c, "--custom-data")).read()
    check(data.startswith("#cloud-config"), f"{n} custom data is not cloud-config")
    check("PRIVATE KEY" not in data, f"{n} custom data holds a private key")
    token = open(os.path.join(os.environ["STAMPEDE_AZURE_HOME"], rg, "token")).read().strip()
    check(token not in data, f"{n} custom data holds the token")
    if role == "agents":
        check(f"STAMPEDE_REGION={r}\n" in data and "STAMPEDE_COORDINATOR=127.0.0.1:7700" in data,
              f"{n} settings")
# Networks: one VNet and NSG per region; the only rule opens 7700 to the agents and the client.
vnets = sorted(opt(c, "-l") for c in calls if c[:3] == ["network", "vnet", "create"])
check(vnets == ["eastus", "southeastasia", "westeurope"], f"VNets in {vnets}")
rules = [c for c in calls if c[:4] == ["network", "nsg", "rule", "create"]]
check(len(rules) == 1, f"{len(rules)} NSG rules")
rule = rules[0]
i = rule.index("--source-address-prefixes")
sources = []
for a in rule[i + 1:]:
    if a.startswith("--"):
        break
    sources.append(a)
check(opt(rule, "--nsg-name") == "stampede-coordinator-nsg" and
      opt(rule, "--destination-port-ranges") == "7700" and opt(rule, "--access") == "Allow",
      f"rule {rule}")
check(sorted(sources) == sorted(["127.0.0.0/8"] + [f"127.0.0.{k}" for k in range(2, 8)]),
      f"rule sources {sources}")
# Secrets: the coordinator's vault only what it needs, the agents' vault only theirs; each
# identity may read one vault.
secrets = {}
for c in calls:
    if c[:3] == ["keyvault", "secret", "set"]:
        secrets.setdefault(opt(c, "--vault-name").split("-")[1], set()).add(opt(c, "-n"))
check(secrets.get("c") == {"coordinator-token", "server-key"}, f"coordinator vault {secrets}")
check(secrets.get("a") == {"agent-token", "agent-key-eastus", "agent-key-westeurope",
                           "agent-key-southeastasia"}, f"agents vault {secrets}")
policies = {opt(c, "-n").split("-")[1]: opt(c, "--object-id")
            for c in calls if c[:2] == ["keyvault", "set-policy"]}
check(policies == {"c": "principal-stampede-coordinator-id",
                   "a": "principal-stampede-agents-id"}, f"vault policies {policies}")
uploads = sorted(opt(c, "-n") for c in calls if c[:3] == ["storage", "blob", "upload"])
check(uploads == ["stampede-agent_0.1.0_amd64.deb", "stampede_0.1.0_amd64.deb"], f"{uploads}")
if errors:
    print("\n".join(errors))
    sys.exit(1)
PY
echo "up: resources, regions, names, secrets and the NSG rule as expected"

# --- a second up creates nothing ---
: >"$FAKE_AZ_LOG"
"$script" "${up[@]}" 2>"$tmp/up2.err" || { cat "$tmp/up2.err"; fail "second up"; }
changes=$(grep -E '"(create|set|set-policy|upload|delete)"' "$FAKE_AZ_LOG" || true)
[[ -z $changes ]] || fail "the second up changed things: $changes"
[[ -s $FAKE_AZ_LOG ]] || fail "the second up looked nothing up"
echo "second up: $(wc -l <"$FAKE_AZ_LOG") look-ups, no change"

# --- what cloud-init writes, used as written ---
state=$STAMPEDE_AZURE_HOME/$rg
root=$tmp/root
# materialise ROLE_FILE VM: write_files of the VM's custom data under $root, and the secrets its
# bootstrap would fetch (from the stand-in's Key Vault) where its runcmd puts them.
materialise() {
  /usr/bin/python3 - "$FAKE_AZ_STATE/vm/$1.json" "$root" "$FAKE_AZ_STATE/keyvault_secret" <<'PY'
import json, os, sys, yaml
vm, root, vault = sys.argv[1:]
data = yaml.safe_load(json.load(open(vm))["customData"])
for f in data["write_files"]:
    path = root + f["path"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(f["content"])
(cmd,) = data["runcmd"]
vault_name = cmd[4]
for spec in cmd[6:]:
    name, path = spec.split("=", 1)
    value = json.load(open(os.path.join(vault, f"{vault_name}.{name}.json")))["value"]
    os.makedirs(os.path.dirname(root + path), exist_ok=True)
    open(root + path, "w").write(value)
    os.chmod(root + path, 0o600)
PY
}
materialise stampede-coordinator
materialise stampede-agent-westeurope-2
# remap: the VM's paths under $root, the packaged binaries from the build.
remap() {
  local i
  for i in "${!UNIT_ARGV[@]}"; do
    UNIT_ARGV[i]=${UNIT_ARGV[i]//\/etc\/stampede/$root/etc/stampede}
    UNIT_ARGV[i]=${UNIT_ARGV[i]//\/var\/lib\/stampede/$tmp/var}
    UNIT_ARGV[i]=${UNIT_ARGV[i]/#\/usr\/bin\//$build/bin/}
  done
}
mkdir -p "$tmp/var"
# The one change: the coordinator listens on loopback, port 0, not 0.0.0.0:7700.
grep -q '^STAMPEDE_LISTEN=0.0.0.0:7700$' "$root/etc/stampede/coordinator.env" ||
  fail "coordinator.env: $(cat "$root/etc/stampede/coordinator.env")"
sed -i 's/^STAMPEDE_LISTEN=.*/STAMPEDE_LISTEN=127.0.0.1:0/' "$root/etc/stampede/coordinator.env"
unit_command "$source_dir/deploy/systemd/stampede-coordinator.service" \
  "$root/etc/stampede/coordinator.env"
remap
"${UNIT_ARGV[@]}" >"$tmp/coordinator.log" 2>&1 &
pids+=($!)
listening() { grep -q 'coordinator listening on' "$tmp/coordinator.log"; }
wait_for 20 listening || { cat "$tmp/coordinator.log"; fail "coordinator did not start"; }
grep -q '(mutual TLS)' "$tmp/coordinator.log" || fail "the coordinator is not on mutual TLS"
address=$(sed -n 's/^coordinator listening on \([0-9.:]*\).*/\1/p' "$tmp/coordinator.log")
# The agent's settings as written, but for the port (the address az gave is 127.0.0.1).
grep -q '^STAMPEDE_COORDINATOR=127.0.0.1:7700$' "$root/etc/stampede/agent.env" ||
  fail "agent.env: $(cat "$root/etc/stampede/agent.env")"
sed -i "s/^STAMPEDE_COORDINATOR=.*/STAMPEDE_COORDINATOR=$address/" "$root/etc/stampede/agent.env"
UNIT_HOSTNAME=stampede-agent-westeurope-2 \
  unit_command "$source_dir/deploy/systemd/stampede-agent.service" "$root/etc/stampede/agent.env"
remap
echo "agent: ${UNIT_ARGV[*]}"
"${UNIT_ARGV[@]}" >"$tmp/agent.log" 2>&1 &
pids+=($!)
# shellcheck source=/dev/null
source "$state/cli.env"
wait_for 20 agent_registered stampede "$address" stampede-agent-westeurope-2 westeurope ||
  { cat "$tmp/coordinator.log" "$tmp/agent.log"; fail "the agent did not register"; }
echo "cloud-init's settings and the vault's secrets: agent registered in westeurope"

# --- status ---
"$script" status --resource-group "$rg" --coordinator "$address" >"$tmp/status.out" 2>&1 ||
  { cat "$tmp/status.out"; fail "status"; }
[[ $(grep -c 'stampede-agent-westeurope-2' "$tmp/status.out") -eq 2 ]] ||
  { cat "$tmp/status.out"; fail "status does not list the VM and the joined agent"; }
[[ $(grep -c '^stampede-agent-.*VM running' "$tmp/status.out") -eq 6 ]] ||
  { cat "$tmp/status.out"; fail "status does not list 6 agent VMs"; }

# --- down: refuses without confirmation; with --yes deletes the group and purges the vaults ---
: >"$FAKE_AZ_LOG"
if "$script" down --resource-group "$rg" </dev/null >/dev/null 2>&1; then
  fail "down without --yes and no terminal went ahead"
fi
! grep -q '"delete"' "$FAKE_AZ_LOG" || fail "down without confirmation deleted"
"$script" down --resource-group "$rg" --yes 2>"$tmp/down.err" || { cat "$tmp/down.err"; fail "down"; }
/usr/bin/python3 - "$FAKE_AZ_LOG" "$tmp/up1.log" "$rg" "$FAKE_AZ_STATE" <<'PY' || fail "down"
import json, os, sys
log, up_log, rg, state = sys.argv[1:]
calls = [json.loads(l) for l in open(log)]
up = [json.loads(l) for l in open(up_log)]
deleted = [c for c in calls if "delete" in c]
assert deleted == [["group", "delete", "-n", rg, "--yes", "--only-show-errors", "-o", "json"]], deleted
vaults = {c[c.index("-n") + 1] for c in up if c[:2] == ["keyvault", "create"]}
purged = {c[c.index("-n") + 1] for c in calls if c[:2] == ["keyvault", "purge"]}
assert len(vaults) == 2 and purged == vaults, (vaults, purged)
# Everything up made was in the group (checked above) and the group is gone.
left = [os.path.join(d, f) for d, _, fs in os.walk(state) for f in fs]
assert not left, left
PY
[[ ! -e $state ]] || fail "down left the local state $state"
echo "down: deleted the group, purged both vaults, removed the local state"
echo "azure_test: ok"
