#!/usr/bin/env bash
# Set-up, build and every test: tools/setup.sh, tools/build.sh, then ctest
# (labels: unit, e2e, python, ops; the test models are made by a ctest fixture).
#
# Usage: tools/test.sh [--sanitize] [ctest arguments, e.g. -L unit or -R Model]
#   --sanitize   build with ASan + UBSan (build-sanitize/) and run the C++ tests under them
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=()
build_dir=build
if [[ ${1:-} == --sanitize ]]; then
  shift
  sanitize=(--sanitize)
  build_dir=build-sanitize
  # LibTorch and OpenCV keep allocations alive until exit by design: leaks are not reported.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

tools/setup.sh
ATMAN_BUILD_DIR=$build_dir tools/build.sh "${sanitize[@]}"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc)" "$@"
