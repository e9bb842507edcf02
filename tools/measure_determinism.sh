#!/usr/bin/env bash
# Measures which flags change the numbers of `atman explain`, and by how
# much: the shipped model on the bundled Shapes-VQA example and on the first
# held-out Facts-QA item, each run twice with the same flags (must be
# bit-identical) and once per variation (threads, batch size, strategy).
# Prints a Markdown table: max |R_a - R_b| and that over max |R|, over every
# position's relevance and per-target value.
#
# Usage: tools/measure_determinism.sh [ATMAN_BINARY]   (default build/atman)
set -euo pipefail
cd "$(dirname "$0")/.."
atman=${1:-build/atman}
model=torchscript_models/tiny_magma.pt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

facts_prompt=$(/usr/bin/python3 -c 'import json; print(json.loads(open("data/heldout/facts_qa/items.jsonl").readline())["prompt"])')
facts_target=$(/usr/bin/python3 -c 'import json; print(json.loads(open("data/heldout/facts_qa/items.jsonl").readline())["target"])')

run() {  # name case flags...
  local name=$1 case=$2
  shift 2
  if [[ $case == vqa ]]; then
    "$atman" explain --model "$model" --image data/example/shapes.png --question "What shape is the blue object?" \
      --target " triangle" --quiet --json "$work/$name.json" "$@"
  else
    "$atman" explain --model "$model" --prompt "$facts_prompt" --target "$facts_target" --quiet \
      --json "$work/$name.json" "$@"
  fi
}

# The image case (156 positions) costs ~8x the text case: fewer runs of it.
run vqa-t1-a vqa --threads 1
run vqa-t1-b vqa --threads 1
run vqa-t2-a vqa --threads 2
run vqa-t1-full vqa --threads 1 --strategy full-logits
run facts-t1-a facts --threads 1
run facts-t1-b facts --threads 1
run facts-t2-a facts --threads 2
run facts-t2-b facts --threads 2
run facts-t1-batch1 facts --threads 1 --batch-size 1
run facts-t1-full facts --threads 1 --strategy full-logits

/usr/bin/python3 - "$work" <<'EOF'
import json, os, sys
work = sys.argv[1]

def values(name):
    j = json.load(open(f"{work}/{name}.json"))
    j.pop("stats", None)
    out = []
    for p in j["positions"]:
        out.append(p["relevance"])
        out.extend(p["per_target"])
    return j, out

def compare(a, b):
    ja, va = values(a)
    jb, vb = values(b)
    identical = json.dumps(ja, sort_keys=True) == json.dumps(jb, sort_keys=True)
    diff = max(abs(x - y) for x, y in zip(va, vb))
    scale = max(abs(x) for x in va)
    return identical, diff, diff / scale if scale else 0.0, scale

print("| case | compared | bit-identical | max abs difference | relative to max abs relevance |")
print("|---|---|---|---|---|")
count = lambda name: len(json.load(open(f"{work}/{name}.json"))["positions"])
labels = {"vqa": f"Shapes-VQA example ({count('vqa-t1-a')} positions)",
          "facts": f"Facts-QA held-out item 0 ({count('facts-t1-a')} positions)"}
pairs = [("t1-a", "t1-b", "same flags, --threads 1, two runs"),
         ("t2-a", "t2-b", "same flags, --threads 2, two runs"),
         ("t1-a", "t2-a", "--threads 1 vs 2"),
         ("t1-a", "t1-batch1", "--batch-size auto vs 1 (threads 1)"),
         ("t1-a", "t1-full", "--strategy target-only vs full-logits (threads 1)")]
for case in ("vqa", "facts"):
    for a, b, what in pairs:
        if not (os.path.exists(f"{work}/{case}-{a}.json") and os.path.exists(f"{work}/{case}-{b}.json")):
            continue
        identical, diff, rel, scale = compare(f"{case}-{a}", f"{case}-{b}")
        print(f"| {labels[case]} | {what} | {'yes' if identical else 'no'} | {diff:.3g} | {rel:.3g} |")
EOF
