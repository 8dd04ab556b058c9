#!/usr/bin/env bash
# Every deployment script passes shellcheck, and every cloud-init document stampede-azure renders
# (coordinator, and agents per region, made by an `up` against the stand-in az) passes
# `cloud-init schema --config-file`.
#   lint_test.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
source_dir=$(cd "$here/../.." && pwd)
command -v shellcheck >/dev/null || skip "shellcheck is not installed"
command -v cloud-init >/dev/null || skip "cloud-init is not installed"

cd "$source_dir"
scripts=(deploy/azure/stampede-azure deploy/azure/bootstrap.sh deploy/docker/stampede-agent-probe
  deploy/debian/postinst.in deploy/debian/postrm.in tests/deploy/*.sh)
shellcheck -x -P SCRIPTDIR "${scripts[@]}" || fail "shellcheck"
echo "shellcheck: ${#scripts[@]} scripts clean"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export FAKE_AZ_STATE=$tmp/az-state FAKE_AZ_LOG=$tmp/az.log STAMPEDE_AZURE_HOME=$tmp/home
export PATH=$here/fake-az:$PATH
mkdir -p "$FAKE_AZ_STATE" "$tmp/debs"
touch "$tmp/debs/stampede_0.1.0_amd64.deb" "$tmp/debs/stampede-agent_0.1.0_amd64.deb"
deploy/azure/stampede-azure up --resource-group lint --regions eastus,westeurope,southeastasia \
  --agents-per-region 1 --packages "$tmp/debs" 2>"$tmp/up.err" || { cat "$tmp/up.err"; fail "up"; }
count=0
for doc in "$tmp"/home/lint/cloud-init-*.yaml; do
  cloud-init schema --config-file "$doc" >"$tmp/schema.out" 2>&1 ||
    { cat "$tmp/schema.out"; fail "cloud-init schema: $(basename "$doc")"; }
  count=$((count + 1))
done
((count == 4)) || fail "rendered $count cloud-init documents, want 4 (coordinator, 3 regions)"
# The bootstrap embedded in the custom data is the shellchecked file, byte for byte.
/usr/bin/python3 - "$tmp/home/lint/cloud-init-agents-eastus.yaml" deploy/azure/bootstrap.sh <<'PY'
import sys, yaml
doc, script = sys.argv[1:]
files = {f["path"]: f for f in yaml.safe_load(open(doc))["write_files"]}
assert files["/usr/local/sbin/stampede-bootstrap"]["content"] == open(script).read()
PY
echo "cloud-init schema: $count documents valid"
echo "lint_test: ok"
