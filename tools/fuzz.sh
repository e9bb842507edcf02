#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) into
# build-fuzz/ and runs each over its seed corpus and its regressions.
#
# Usage: tools/fuzz.sh [RUNS] [TARGET...]
#   RUNS     executions per target (default 20000: the short run of tools/test.sh)
#   TARGET   config, image, prompt, tokenizer, serve (default: all five)
# Environment: ATMAN_FUZZ_BUILD_DIR (default build-fuzz), ATMAN_FUZZ_JOBS (default 2).
# New inputs go to a scratch folder (removed afterwards), never into tests/fuzz/corpus;
# a crash leaves crash-* in the current folder and makes the script fail.
# Without clang++ the script says so and exits 0 (tools/setup.sh installs clang).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-20000}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(config image prompt tokenizer serve)
build_dir=${ATMAN_FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang++ >/dev/null; then
  echo "fuzz: skipped: clang++ not found (tools/setup.sh installs clang and libclang-rt-14-dev)"
  exit 0
fi

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DATMAN_BUILD_FUZZERS=ON -DATMAN_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j"${ATMAN_FUZZ_JOBS:-2}" --target atman_fuzzers

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# LibTorch, OpenCV and protobuf keep allocations until exit by design: no leak reports.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for target in "${targets[@]}"; do
  case $target in
    config) binary=fuzz_model_config ;;
    image) binary=fuzz_image ;;
    prompt) binary=fuzz_prompt ;;
    tokenizer) binary=fuzz_tokenizer_json ;;
    serve) binary=fuzz_serve_request ;;
    *) echo "fuzz: unknown target $target (config, image, prompt, tokenizer, serve)" >&2; exit 2 ;;
  esac
  mkdir -p "$scratch/$target"
  corpora=("$scratch/$target" "tests/fuzz/corpus/$target")
  [[ -d tests/fuzz/regressions/$target ]] && corpora+=("tests/fuzz/regressions/$target")
  echo "fuzz: $binary, $runs runs"
  "$build_dir/tests/fuzz/$binary" -runs="$runs" -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 "${corpora[@]}" 2>"$scratch/$target.log" || {
    tail -40 "$scratch/$target.log" >&2
    echo "fuzz: $binary failed (see above); the image loader silences stderr while OpenCV decodes, so replay" \
      "with ASAN_OPTIONS=log_path=/tmp/asan $build_dir/tests/fuzz/$binary crash-* to see a report from there" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec" "$scratch/$target.log" | sed 's/^/  /'
done
