# shellcheck shell=bash
# Helpers shared by the deployment tests (sourced): skipping, polling, test certificates, and the
# command line a systemd unit would run, computed from the unit file and its environment file.

# ctest's SKIP_RETURN_CODE for these tests (tests/deploy/CMakeLists.txt).
readonly SKIP_CODE=77

skip() {
  echo "SKIP: $*"
  exit "$SKIP_CODE"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# wait_for TIMEOUT_S COMMAND...: polls COMMAND (every 0.1 s) until it succeeds; fails after
# TIMEOUT_S seconds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# make_tls DIR SERVER_IP CLIENT_NAME...: a CA, a server certificate naming SERVER_IP, and one
# client certificate per CLIENT_NAME (its CN, the name an agent registers under with mutual TLS),
# as DIR/ca.pem, DIR/server.{pem,key}, DIR/NAME.{pem,key}.
make_tls() {
  local dir=$1 ip=$2 name
  shift 2
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=stampede test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  _make_leaf "$dir" server "/CN=stampede coordinator" "subjectAltName=IP:$ip"
  for name in "$@"; do
    _make_leaf "$dir" "$name" "/CN=$name" "subjectAltName=DNS:$name"
  done
}

_make_leaf() {
  local dir=$1 file=$2 subject=$3 san=$4
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
    -keyout "$dir/$file.key" -out "$dir/$file.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$file.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile <(printf '%s\n' "$san") -out "$dir/$file.pem" 2>/dev/null
  rm -f "$dir/$file.csr"
}

# unit_command UNIT_FILE [ENV_FILE]: sets UNIT_ARGV to the command line systemd would run for the
# unit's ExecStart= (continuation lines joined; Environment= defaults, then ENV_FILE's values, as
# EnvironmentFile= does; "${NAME}" substituted within a word, a lone "$NAME" split into words;
# %H the host name, $UNIT_HOSTNAME if set, also in Environment=; %% a percent sign), and
# UNIT_USER to its User=. Anything else (quotes, other specifiers) is an error, not a guess.
# shellcheck disable=SC2034  # UNIT_USER and UNIT_ARGV are its results
unit_command() {
  local unit=$1 env_file=${2:-} line key value joined="" exec=""
  local -A env=()
  UNIT_USER=""
  UNIT_ARGV=()
  while IFS= read -r line || [[ -n $line ]]; do
    if [[ $line == *\\ ]]; then
      joined+="${line%\\} "
      continue
    fi
    line="$joined$line"
    joined=""
    case $line in
      Environment=*)
        # systemd resolves specifiers (not variables) in Environment= values.
        value=${line#Environment=}
        value=${value//%H/${UNIT_HOSTNAME:-$(hostname)}}
        env[${value%%=*}]=${value#*=}
        ;;
      ExecStart=*) exec=${line#ExecStart=} ;;
      User=*) UNIT_USER=${line#User=} ;;
    esac
  done <"$unit"
  [[ -n $exec ]] || { echo "unit_command: no ExecStart= in $unit" >&2; return 1; }
  if [[ -n $env_file ]]; then
    while IFS= read -r line || [[ -n $line ]]; do
      [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
      [[ $line == *=* ]] || { echo "unit_command: bad line in $env_file: $line" >&2; return 1; }
      key=${line%%=*}
      value=${line#*=}
      if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
      env[$key]=$value
    done <"$env_file"
  fi
  if [[ $exec == *[\"\']* ]]; then
    echo "unit_command: quoted words in ExecStart= are not handled here" >&2
    return 1
  fi
  local -a words
  read -ra words <<<"$exec"
  local word name rest
  for word in "${words[@]}"; do
    if [[ $word =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
      local -a split=()
      read -ra split <<<"${env[${BASH_REMATCH[1]}]:-}"
      UNIT_ARGV+=("${split[@]}")
      continue
    fi
    rest=$word
    word=""
    while [[ $rest =~ ^([^%\$]*)(%.|\$\{([A-Za-z_][A-Za-z0-9_]*)\})(.*)$ ]]; do
      word+=${BASH_REMATCH[1]}
      name=${BASH_REMATCH[3]}
      case ${BASH_REMATCH[2]} in
        %H) word+=${UNIT_HOSTNAME:-$(hostname)} ;;
        %%) word+=% ;;
        %*) echo "unit_command: specifier ${BASH_REMATCH[2]} not handled" >&2; return 1 ;;
        *) word+=${env[$name]:-} ;;
      esac
      rest=${BASH_REMATCH[4]}
    done
    UNIT_ARGV+=("$word$rest")
  done
}

# agent_registered STAMPEDE_BIN ADDRESS NAME REGION: true once `stampede agents` lists an agent
# NAME in REGION (TLS and token from $STAMPEDE_TLS_* and $STAMPEDE_TOKEN, as the CLI reads them).
agent_registered() {
  local json
  json=$("$1" agents --coordinator "$2" --json 2>/dev/null) || return 1
  local pattern="\"name\": *\"$3\", *\"region\": *\"$4\""
  [[ $json =~ $pattern ]]
}
