#!/usr/bin/env bash
# deploy/k8s renders offline for every region, and what it renders is what the agent needs: the
# region in its flag and labels, token and client certificate mounted from Secrets where its flags
# read them, probes on the probe the package installs, a spool volume under --spool-dir, and no
# flag the agent does not have.
#   k8s_render_test.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

build=$(cd "${1:?usage: k8s_render_test.sh BUILD_DIR}" && pwd)
source_dir=$(cd "$here/../.." && pwd)
command -v kubectl >/dev/null || skip "kubectl is not installed"
/usr/bin/python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
[[ -x $build/bin/stampede-agent ]] || fail "$build/bin/stampede-agent is not built"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bin/stampede-agent" --help >"$tmp/help.txt"
regions=()
for dir in "$source_dir"/deploy/k8s/overlays/*/; do regions+=("$(basename "$dir")"); done
[[ ${regions[*]} == "eastus southeastasia westeurope" ]] ||
  fail "overlays: ${regions[*]} (want eastus, southeastasia, westeurope)"

for region in "${regions[@]}"; do
  kubectl kustomize "$source_dir/deploy/k8s/overlays/$region" >"$tmp/$region.yaml" ||
    fail "kubectl kustomize overlays/$region"
  /usr/bin/python3 - "$tmp/$region.yaml" "$region" "$tmp/help.txt" \
    "$source_dir/cmake/StampedePackaging.cmake" <<'PY' || fail "overlays/$region renders wrongly"
import re, sys, yaml

path, region, help_path, packaging = sys.argv[1:]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
errors = []
def check(ok, what):
    if not ok:
        errors.append(what)

(sts,) = by_kind["StatefulSet"]
(cm,) = by_kind["ConfigMap"]
(svc,) = by_kind["Service"]
check(set(by_kind) == {"StatefulSet", "ConfigMap", "Service"}, f"kinds {sorted(by_kind)}")
check(not by_kind.get("Secret"), "a Secret is generated into the output (secrets stay out)")
check(sts["metadata"]["name"] == f"{region}-stampede-agent", "StatefulSet name")
for where, labels in [("selector", sts["spec"]["selector"]["matchLabels"]),
                      ("pod", sts["spec"]["template"]["metadata"]["labels"]),
                      ("service selector", svc["spec"].get("selector", {}))]:
    check(labels.get("stampede.io/region") == region, f"{where} label stampede.io/region")
check(svc["spec"].get("clusterIP") == "None" and not svc["spec"].get("ports"),
      "the Service is headless, with no port")
check(sts["spec"]["serviceName"] == svc["metadata"]["name"], "serviceName is the Service")

pod = sts["spec"]["template"]["spec"]
(c,) = pod["containers"]
args = c["args"]
env = {e["name"]: e for e in c["env"]}
# --region comes from the ConfigMap's region, which is this overlay's.
check("--region=$(STAMPEDE_REGION)" in args, "--region flag")
ref = env["STAMPEDE_REGION"]["valueFrom"]["configMapKeyRef"]
check(ref["name"] == cm["metadata"]["name"] and cm["data"].get(ref["key"]) == region,
      f"STAMPEDE_REGION from the ConfigMap is {cm['data'].get(ref['key'])}")
ref = env["STAMPEDE_COORDINATOR"]["valueFrom"]["configMapKeyRef"]
check(ref["name"] == cm["metadata"]["name"] and ":" in cm["data"].get(ref["key"], ""),
      "STAMPEDE_COORDINATOR from the ConfigMap, HOST:PORT")
check("--name=$(POD_NAME)" in args and
      env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name",
      "the agent is named after its pod")

# Every flag exists in the agent's --help.
help_flags = set(re.findall(r"(--[a-z][a-z-]*)", open(help_path).read()))
for a in args:
    check(a.split("=")[0] in help_flags, f"flag {a} is not in stampede-agent --help")
flags = dict(a.split("=", 1) for a in args if "=" in a)

# Secrets: each file a flag reads lies in a mount of the right Secret.
volumes = {v["name"]: v for v in pod["volumes"]}
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
def secret_of(file):
    for mount, name in mounts.items():
        if file.startswith(mount + "/"):
            return volumes.get(name, {}).get("secret", {}).get("secretName")
for flag, secret in [("--token-file", "stampede-token"),
                     ("--tls-ca", f"stampede-agent-tls-{region}"),
                     ("--tls-cert", f"stampede-agent-tls-{region}"),
                     ("--tls-key", f"stampede-agent-tls-{region}")]:
    check(flag in flags and secret_of(flags[flag]) == secret,
          f"{flag} {flags.get(flag)} is not in Secret {secret}")
for v in pod["volumes"]:
    if "secret" in v:
        check(v["secret"].get("defaultMode") == 0o440, f"Secret volume {v['name']} mode")
check(pod["securityContext"].get("fsGroup") == 999 and
      pod["securityContext"].get("runAsNonRoot") is True, "non-root, fsGroup for the secrets")

# Spool: --spool-dir lies in a mount of the volume claim template `spool`.
claims = [t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])]
spool = flags.get("--spool-dir", "")
check(any(spool.startswith(m + "/") and n == "spool" for m, n in mounts.items())
      and "spool" in claims, f"--spool-dir {spool} is not on the spool volume")

# Probes: exec on the probe the stampede-agent package installs.
probe = "/usr/libexec/stampede-agent/stampede-agent-probe"
check(c["readinessProbe"]["exec"]["command"] == [probe, "ready"], "readiness probe")
check(c["livenessProbe"]["exec"]["command"] == [probe, "alive"], "liveness probe")
text = open(packaging).read()
check("deploy/docker/stampede-agent-probe" in text.replace("${_pkg_src}", "deploy") and
      "${CMAKE_INSTALL_LIBEXECDIR}/stampede-agent" in text,
      "the package does not install the probe at " + probe)

if errors:
    print("\n".join(f"  {region}: {e}" for e in errors))
    sys.exit(1)
PY
  echo "overlays/$region: ok"
done
echo "k8s_render_test: ok"
