#!/usr/bin/env bash
# ctest fixture tokenizer_references: installs the pinned reference tokenizers
# (package.json / package-lock.json here) into OUT/node with npm ci, then
# writes OUT/<name>.tokenizer.json and OUT/<name>.expected.json for
# llama3, qwen3, gemma3 and gpt2 (reference.cjs). Skips work already done.
#
# Usage: tests/tokenizers/make_references.sh OUT
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: make_references.sh OUT}
mkdir -p "$out/node"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "make_references: $tool not found (tools/setup.sh installs nodejs and npm)" >&2; exit 1; }
done
if [[ ! -d $out/node/node_modules ]] || ! cmp -s "$here/package-lock.json" "$out/node/package-lock.json"; then
  cp "$here/package.json" "$here/package-lock.json" "$out/node/"
  npm ci --prefix "$out/node" --no-audit --no-fund --ignore-scripts --loglevel=error
fi
stamp=$out/references.stamp
if [[ -f $stamp && $stamp -nt $here/strings.json && $stamp -nt $here/reference.cjs && $stamp -nt $out/node/package-lock.json ]]; then
  echo "make_references: up to date ($out)"
  exit 0
fi
rm -f "$stamp"
node "$here/reference.cjs" "$out/node" "$here/strings.json" "$out"
touch "$stamp"
