#!/usr/bin/env bash
# Tokenizer throughput, atman (C++) against Hugging Face's JavaScript
# tokenizers, in the same run on the same ~1 MB mixed text (English prose and
# Markdown from docs/, C++ from csrc/, the multilingual test strings, so it
# follows the tree), and checks that both give the same ids for all of it.
#
# Usage: tests/tokenizers/bench.sh [BUILD_DIR] [REPEATS]
# Needs the build (atman_tokenizer_bench) and the tokenizer_references fixture:
#   cd build && ctest -R tokenizer_references
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
repeats=${2:-3}
refs=$build/tokenizer_references
[[ -d $refs/node/node_modules ]] || { echo "bench: run the fixture first: cd $build && ctest -R tokenizer_references" >&2; exit 1; }
text=$build/tokenizer_bench_text.txt
python3 - "$root" "$text" <<'PY'
import glob, json, sys
root, out = sys.argv[1], sys.argv[2]
parts = [open(p, encoding="utf-8").read() for p in sorted(glob.glob(root + "/docs/*.md"))]
parts += [open(p, encoding="utf-8").read() for p in sorted(glob.glob(root + "/csrc/atman/**/*.cpp", recursive=True))]
parts += ["\n".join(json.load(open(root + "/tests/tokenizers/strings.json", encoding="utf-8")))]
text = "\n".join(parts)
while len(text.encode()) < 1_000_000:
    text += "\n" + text
data = text.encode()[:1_000_000].decode("utf-8", "ignore")
open(out, "w", encoding="utf-8").write(data)
PY
echo "bench: $(wc -c <"$text") bytes, $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
ids=$build/tokenizer_bench_ids
mkdir -p "$ids"
"$build/tests/atman_tokenizer_bench" --ids "$ids" "$text" "$repeats" "llama3=$refs/llama3.tokenizer.json" \
  "qwen3=$refs/qwen3.tokenizer.json"
node "$root/tests/tokenizers/bench.cjs" --ids "$ids" "$refs/node" "$text" "$repeats" llama3 qwen3
# The same text, the same ids: the whole megabyte agrees too.
for name in llama3 qwen3; do
  if cmp -s "$ids/$name.cpp.ids" "$ids/$name.js.ids"; then
    echo "bench: $name: C++ and JavaScript ids identical ($(wc -l <"$ids/$name.cpp.ids") tokens)"
  else
    echo "bench: $name: C++ and JavaScript ids DIFFER ($ids/$name.*.ids)" >&2
    exit 1
  fi
done
