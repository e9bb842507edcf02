#!/usr/bin/env bash
# Configures and builds atman-cpp (Release) into build/, using every core.
#
# Usage: tools/build.sh [--sanitize] [extra cmake -D options...]
#   --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
# Environment: ATMAN_BUILD_DIR overrides the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${ATMAN_BUILD_DIR:-build}
cmake_args=(-DCMAKE_BUILD_TYPE=Release)
if [[ ${1:-} == --sanitize ]]; then
  shift
  build_dir=${ATMAN_BUILD_DIR:-build-asan}
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DATMAN_SANITIZE=ON)
fi

cmake -S . -B "$build_dir" "${cmake_args[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
echo "build: $build_dir/atman"
