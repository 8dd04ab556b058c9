#!/usr/bin/env bash
# The whole test job (CI runs it through .ci/run), in five stages:
#   1. scripts/setup.sh: installs missing Debian packages, builds build/ (GCC, RelWithDebInfo);
#   2. build-clang/: the libraries and the three executables with clang and -Wthread-safety
#      -Werror, so that every lock annotation is checked (no tests are built there);
#   3. build-asan/: the unit suites (ctest label `unit`) built with ASan+UBSan, and run;
#   4. build-fuzz/: every libFuzzer harness (tests/fuzz/) built and run for a short while
#      (scripts/fuzz.sh; FUZZ_SECONDS, default 20, each; two at a time);
#   5. the whole suite in build/, last, so that ctest's summary ends the output.
# Each stage prints one line saying what it does and how long it took; the first failure stops
# the job with a non-zero exit. ccache is used when it is installed, never required.
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS=2  # CI machines, and the shared development machines, have 2 cores

LAUNCHER=()
if command -v ccache >/dev/null; then
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

START=$SECONDS
stage_start=$SECONDS
stage="setup"
trap 'echo "test.sh: FAILED in stage: $stage" >&2' ERR
# Prints "test.sh: <what> (<seconds>s)" and restarts the stage clock.
stage_done() {
  echo "test.sh: $1 ($((SECONDS - stage_start))s)"
  stage_start=$SECONDS
}

./scripts/setup.sh
stage_done "setup.sh: installed missing packages, built build/"

stage="clang thread-safety build"
# Debug with no debug info: the analysis runs in the front end; optimising or emitting DWARF
# would only slow the build down.
if [[ ! -f build-clang/build.ninja ]]; then
  cmake -S . -B build-clang -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG=-g0 -DBUILD_TESTING=OFF -DSTAMPEDE_THREAD_SAFETY=ON \
    "${LAUNCHER[@]}" >/dev/null
fi
cmake --build build-clang -j "$JOBS" --target stampede stampede-agent stampede-target
stage_done "clang -Wthread-safety -Werror: built the libraries and executables in build-clang/"

stage="sanitizer unit suites"
# -O1 keeps the instrumented tests quick; -g1 keeps file:line in sanitizer reports.
if [[ ! -f build-asan/build.ninja ]]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
    -DSTAMPEDE_SANITIZE=ON "${LAUNCHER[@]}" >/dev/null
fi
cmake --build build-asan -j "$JOBS" --target unit_tests
ctest --test-dir build-asan -L unit -j "$JOBS" --output-on-failure
stage_done "ASan+UBSan: built and ran the unit suites (ctest -L unit) in build-asan/"

stage="fuzz"
# Short runs: they catch an input that a change made easy to crash on. The long runs (10^7
# executions each) are scripts/fuzz.sh --runs, recorded in docs/fuzzing.md.
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
./scripts/fuzz.sh "$FUZZ_SECONDS"
stage_done "libFuzzer: built build-fuzz/ and ran every harness for ${FUZZ_SECONDS}s"

stage="main suite"
# The last stage prints its line first, so that ctest's summary ends the output; its time is
# ctest's "Total Test time" below.
echo "test.sh: running the whole suite in build/ (stages so far: $((SECONDS - START))s)"
ctest --test-dir build -j "$JOBS" --output-on-failure
