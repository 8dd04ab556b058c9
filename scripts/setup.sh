#!/usr/bin/env bash
# Installs what Stampede needs on a Debian 12 machine (only the packages that are missing), then
# configures and builds into build/ (binaries in build/bin/). Safe to run again: a second run
# installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # toolchain; clang for the thread-safety analysis in scripts/test.sh (GCC does not check the
  # lock annotations); g++ brings the ASan/UBSan runtimes test.sh's sanitizer build uses;
  # libclang-rt-14-dev has clang's libFuzzer and sanitizer runtimes (scripts/fuzz.sh), which
  # clang only recommends
  g++ clang libclang-rt-14-dev cmake ninja-build pkg-config git
  # libraries
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libabsl-dev
  libcurl4-openssl-dev libevent-dev libsqlite3-dev libgtest-dev libgmock-dev
  # users' tools: sqlite3 for the record store; peers for bench/ (wrk, hey, ab, nginx)
  sqlite3 wrk hey apache2-utils nginx-light openssl
  # network namespaces for multi-host tests
  iproute2 procps
  faketime  # shifted agent clocks in the WAN simulation (tests/wan_test.cc, examples/multiregion)
  # deploy/ and its tests (tests/deploy): packages (dpkg-dev for dpkg-shlibdeps, lintian), the
  # Azure script's cloud-init documents (cloud-init schema), shell lint, the k8s overlays' YAML
  dpkg-dev lintian cloud-init shellcheck python3-yaml
)
# From the machines' extra apt source, not Debian's: its absence only skips the k8s render test.
OPTIONAL=(kubectl)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root (or install sudo)" >&2; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  # --no-install-recommends keeps nginx from being started as a system service where possible.
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
for p in "${OPTIONAL[@]}"; do
  if ! command -v "$p" >/dev/null; then
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "$p" ||
      echo "setup: $p is not available here; the tests that need it will skip" >&2
  fi
done

BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
# ccache speeds up rebuilds when it is there; nothing needs it.
LAUNCHER=()
if command -v ccache >/dev/null; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${LAUNCHER[@]}"
fi
cmake --build build -j "$(nproc)"
echo "setup: built into build/bin/: $(ls build/bin | tr '\n' ' ')"
