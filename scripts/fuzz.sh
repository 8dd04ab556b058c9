#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) in build-fuzz/ with clang, ASan and UBSan, and runs
# them:
#   scripts/fuzz.sh                        every harness for 20 s (what scripts/test.sh runs)
#   scripts/fuzz.sh 300 plan               the plan harness for 300 s
#   scripts/fuzz.sh --runs 10000000 plan   10^7 executions (the long run in docs/fuzzing.md)
# The harnesses are the names in build-fuzz/fuzzers.txt, which tests/fuzz/CMakeLists.txt writes;
# two run at a time (the machines have 2 cores). Seeds come from tests/fuzz/corpus/NAME/ (checked
# in, never written); what a run discovers is kept in build-fuzz/corpus/NAME/ for the next run.
# A crash, a sanitizer report, a leak, an input that takes over 10 s or a process over 2 GiB
# fails the script; the input is left in build-fuzz/artifacts/NAME/ and the output says how to
# replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=2
BUILD=build-fuzz
seconds=20
runs=""
harnesses=()
usage() {
  echo "usage: scripts/fuzz.sh [SECONDS | --runs N] [HARNESS...]" >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --runs)
      [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || usage
      runs=$2
      shift 2
      ;;
    -h | --help) usage ;;
    *)
      if [[ "$1" =~ ^[0-9]+$ ]]; then seconds=$1; else harnesses+=("$1"); fi
      shift
      ;;
  esac
done

LAUNCHER=()
if command -v ccache >/dev/null; then LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
# -O1: fast enough to fuzz, quick to build; -g1 keeps file:line in sanitizer reports.
if [[ ! -f $BUILD/build.ninja ]]; then
  cmake -S . -B $BUILD -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" -DBUILD_TESTING=ON -DSTAMPEDE_FUZZ=ON "${LAUNCHER[@]}" >/dev/null
fi
cmake --build $BUILD -j "$JOBS" --target fuzzers

mapfile -t known < $BUILD/fuzzers.txt
if ((${#harnesses[@]} == 0)); then harnesses=("${known[@]}"); fi
for h in "${harnesses[@]}"; do
  if [[ ! " ${known[*]} " == *" $h "* ]]; then
    echo "fuzz.sh: no harness \"$h\" (there are: ${known[*]})" >&2
    exit 2
  fi
done

# Starts one harness in the background; its output goes to $BUILD/logs/NAME.log.
start() {
  local h=$1
  local options=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    "-artifact_prefix=$BUILD/artifacts/$h/")
  if [[ -n $runs ]]; then options+=("-runs=$runs"); else options+=("-max_total_time=$seconds"); fi
  if [[ -f tests/fuzz/$h.dict ]]; then options+=("-dict=tests/fuzz/$h.dict"); fi
  mkdir -p "$BUILD/corpus/$h" "$BUILD/artifacts/$h" "$BUILD/logs"
  # The first corpus folder is where libFuzzer writes what it finds; the seeds are only read.
  "$BUILD/bin/${h}_fuzzer" "${options[@]}" "$BUILD/corpus/$h" "tests/fuzz/corpus/$h" \
    >"$BUILD/logs/$h.log" 2>&1
}

# One line per harness: executions, time, coverage; on failure, the end of its log.
report() {
  local h=$1 status=$2 log="$BUILD/logs/$1.log"
  local done_line cov
  done_line=$(grep -E '^Done [0-9]+ runs in' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  if ((status == 0)); then
    echo "fuzz.sh: $h: ${done_line:-done} ($cov), no findings"
    return 0
  fi
  echo "fuzz.sh: $h: FAILED (exit $status); end of $log:" >&2
  tail -n 40 "$log" >&2
  local artifact
  artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -1 | sed 's/Test unit written to //' || true)
  if [[ -n $artifact ]]; then
    echo "fuzz.sh: replay with: $BUILD/bin/${h}_fuzzer $artifact" >&2
  fi
  return 1
}

failed=0
for ((i = 0; i < ${#harnesses[@]}; i += JOBS)); do
  batch=("${harnesses[@]:i:JOBS}")
  pids=()
  for h in "${batch[@]}"; do
    start "$h" &
    pids+=($!)
  done
  for j in "${!batch[@]}"; do
    status=0
    wait "${pids[j]}" || status=$?
    report "${batch[j]}" "$status" || failed=1
  done
done
exit $failed
