#!/bin/sh
# Runs once on each VM from cloud-init (stampede-azure embeds it in the custom data, with the
# settings and public certificates; no secret is in the custom data). With the VM's managed
# identity it downloads the Stampede package from the deployment's storage account, installs it,
# fetches the private key and the token from Key Vault into /etc/stampede (root:stampede 0640),
# and enables the unit.
#   stampede-bootstrap CLIENT_ID STORAGE_ACCOUNT PACKAGE VAULT UNIT SECRET=PATH...
# Role assignments and access policies take minutes to reach every region: each fetch is retried
# for up to 20 minutes.
set -eu

client_id=$1 account=$2 package=$3 vault=$4 unit=$5
shift 5
imds=http://169.254.169.254/metadata/identity/oauth2/token

log() { echo "stampede-bootstrap: $*"; }

# retry COMMAND...: runs COMMAND until it succeeds, every 10 s for 20 minutes.
retry() {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || { log "giving up: $*"; return 1; }
    sleep 10
  done
}

# token RESOURCE: an access token of the VM's identity for RESOURCE.
token() {
  curl -sf -H Metadata:true \
    "$imds?api-version=2018-02-01&client_id=$client_id&resource=$1" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

download_package() {
  t=$(token https%3A%2F%2Fstorage.azure.com%2F) || return 1
  curl -sf -H "Authorization: Bearer $t" -H "x-ms-version: 2020-04-08" \
    -o "/var/tmp/$package" "https://$account.blob.core.windows.net/packages/$package"
}

# fetch_secret NAME PATH: Key Vault secret NAME into PATH, readable by the service's group only.
fetch_secret() {
  t=$(token https%3A%2F%2Fvault.azure.net) || return 1
  value=$(curl -sf -H "Authorization: Bearer $t" \
    "https://$vault.vault.azure.net/secrets/$1?api-version=7.4" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["value"])') || return 1
  [ -n "$value" ] || return 1
  umask 077
  printf '%s\n' "$value" >"$2.new"
  chown root:stampede "$2.new"
  chmod 0640 "$2.new"
  mv "$2.new" "$2"
}

log "downloading $package"
retry download_package
log "installing $package"
retry apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/var/tmp/$package"
rm -f "/var/tmp/$package"
for secret in "$@"; do
  log "fetching ${secret%%=*}"
  retry fetch_secret "${secret%%=*}" "${secret#*=}"
done
systemctl enable --now "$unit"
log "$unit enabled"
