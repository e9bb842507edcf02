#!/usr/bin/env bash
# Set-up, build and every test: tools/setup.sh, tools/build.sh, then ctest
# (labels: unit, e2e, python, ops; the test models are made by a ctest fixture).
#
# Usage: tools/test.sh [--sanitize] [ctest arguments, e.g. -L unit or -R Model]
#   --sanitize   build with ASan + UBSan (build-asan/) and run the C++ tests (labels unit, ops,
#                e2e) under them; the python label is skipped (/usr/bin/python3 cannot load
#                ASan-instrumented code), and so is the slow label (the multi-process
#                distributed runs: many ASan processes at once cost more CI time than they
#                find; they run in the plain build). The tokenizers' agreement with the npm
#                references is not built into the sanitized tests (the fuzzers run that code
#                under ASan). Without ctest arguments and without --sanitize, a short
#                run of each libFuzzer target follows (tools/fuzz.sh; skipped without clang).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=()
labels=()
build_dir=build
if [[ ${1:-} == --sanitize ]]; then
  shift
  sanitize=(--sanitize)
  build_dir=build-asan
  # LibTorch, OpenCV and protobuf (not instrumented) keep allocations alive until exit by design:
  # leaks are not reported. Everything else ASan and UBSan find fails the test.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # The sharded runs by name too: the "slow" label given through gtest_discover_tests'
  # PROPERTIES does not reach the discovered tests (tests/CMakeLists.txt).
  labels=(-LE "python|slow" -E "E2eDistributed")
fi

tools/setup.sh
ATMAN_BUILD_DIR=$build_dir tools/build.sh "${sanitize[@]}"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc)" "${labels[@]}" "$@"
if ((${#sanitize[@]} == 0 && $# == 0)); then
  cd ..
  tools/fuzz.sh 20000
fi
