#!/usr/bin/env bash
# Sharded runs side by side (docs/distributed.md, "Measured"): 1 rank x 1
# thread, 1 rank x 2 threads and 2 ranks x 1 thread (--processes 2) on
#   - the bundled example's sweep (tools/demo.sh's explain: tiny_magma.pt on
#     data/example, conceptual suppression), best of --repeat runs;
#   - an eval of 100 Facts-QA + 20 Shapes-VQA items (data/heldout, --methods atman);
# then the Gloo gather's cost against the number of explained positions.
# Speed-up and parallel efficiency (speed-up / 2) are against 1 rank x 1 thread.
# Prints one markdown table; wall seconds include process start-up.
#
# Usage: tools/measure_distributed.sh [--build DIR] [--repeat N] [--skip-eval] [--skip-explain]
#                                     [--eval-limit facts_qa=100,shapes_vqa=20]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ATMAN_BUILD_DIR:-build}
repeat=3
skip_eval=0
skip_explain=0
eval_limit=facts_qa=100,shapes_vqa=20
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --skip-eval) skip_eval=1; shift ;;
    --skip-explain) skip_explain=1; shift ;;
    --eval-limit) eval_limit=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--repeat N] [--skip-eval]" >&2; exit 2 ;;
  esac
done
atman=$build/atman
model=torchscript_models/tiny_magma.pt
[[ -x $atman ]] || { echo "measure: $atman not built (tools/build.sh)" >&2; exit 1; }
[[ -f $model ]] || { echo "measure: $model not found" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3

# config name -> extra flags
declare -A flags=(
  ["1x1"]="--threads 1"
  ["1x2"]="--threads 2"
  ["2x1"]="--threads 1 --processes 2"
)
order=(1x1 1x2 2x1)

now() { date +%s.%N; }

best_explain() {  # $1 config; prints the best wall seconds over $repeat runs
  local best=""
  for ((i = 0; i < repeat; i++)); do
    local t0 t1
    t0=$(now)
    # shellcheck disable=SC2086
    "$atman" explain --model "$model" --image data/example/shapes.png --question "What shape is the blue object?" \
      --target " triangle" --quiet --json "$work/explain_$1.json" ${flags[$1]}
    t1=$(now)
    best=$($py -c "import sys; a=float(sys.argv[1]); b=sys.argv[2]; print(min(a, float(b)) if b else a)" \
      "$($py -c "print($t1 - $t0)")" "$best")
  done
  echo "$best"
}

run_eval() {  # $1 config; prints wall seconds
  local t0 t1
  rm -rf "$work/eval_$1"
  t0=$(now)
  # shellcheck disable=SC2086
  "$atman" eval --model "$model" --data data/heldout --limit "$eval_limit" --methods atman \
    --no-plots --quiet --out "$work/eval_$1" ${flags[$1]} >/dev/null
  t1=$(now)
  $py -c "print($t1 - $t0)"
}

declare -A explain_s eval_s
if [[ $skip_explain == 1 ]]; then repeat=1; fi  # one run each: the table still reads their JSON stats
for c in "${order[@]}"; do
  explain_s[$c]=$(best_explain "$c")
  echo "measure: explain $c: ${explain_s[$c]} s" >&2
done
if [[ $skip_eval == 0 ]]; then
  for c in "${order[@]}"; do
    eval_s[$c]=$(run_eval "$c")
    echo "measure: eval $c: ${eval_s[$c]} s" >&2
  done
  # The sharded eval gives the one-process summary (timings aside).
  $py - "$work/eval_1x1/summary.json" "$work/eval_2x1/summary.json" <<'PY'
import json, sys
def metrics(p):
    return [{k: v for k, v in r.items() if "seconds" not in k and "peak" not in k} for r in json.load(open(p))]
a, b = (metrics(p) for p in sys.argv[1:3])
print("measure: eval summary 2 ranks == 1 rank: %s" % (a == b), file=sys.stderr)
PY
fi

$py - "$work" "$skip_eval" "${explain_s[1x1]}" "${explain_s[1x2]}" "${explain_s[2x1]}" \
  "${eval_s[1x1]:-0}" "${eval_s[1x2]:-0}" "${eval_s[2x1]:-0}" "$eval_limit" <<'PY'
import json, sys
work, skip = sys.argv[1], sys.argv[2] == "1"
ex = dict(zip(["1x1", "1x2", "2x1"], map(float, sys.argv[3:6])))
ev = dict(zip(["1x1", "1x2", "2x1"], map(float, sys.argv[6:9])))
stats = {c: json.load(open(f"{work}/explain_{c}.json"))["stats"] for c in ex}
print("| run | config | wall s | sweep s (JSON) | speed-up vs 1x1 | efficiency |")
print("|---|---|---|---|---|---|")
labels = {"1x1": "1 rank x 1 thread", "1x2": "1 rank x 2 threads", "2x1": "2 ranks x 1 thread"}
for c in ex:
    workers = 2 if c != "1x1" else 1
    s = ex["1x1"] / ex[c]
    print(f"| example sweep | {labels[c]} | {ex[c]:.2f} | {stats[c]['sweep_seconds']:.2f} | {s:.2f} | {s / workers:.2f} |")
if not skip:
    for c in ev:
        workers = 2 if c != "1x1" else 1
        s = ev["1x1"] / ev[c]
        print(f"| eval ({sys.argv[9]}) | {labels[c]} | {ev[c]:.1f} | - | {s:.2f} | {s / workers:.2f} |")
st = stats["2x1"]
print(f"\nexample, 2 ranks: rank seconds {['%.2f' % x for x in st['rank_seconds']]}, "
      f"gather {st['gather_seconds'] * 1000:.2f} ms")
PY

# The gather's cost against the positions explained: text prompts of growing length, 2 ranks.
echo
echo "| positions | explained rows | gather ms | sweep s |"
echo "|---|---|---|---|"
for words in 16 64 256; do
  prompt=$($py -c "import sys; n=int(sys.argv[1]); print(' '.join(['Amir lives in Zurich.'] * (n // 4)) + ' Question: Where does Amir live? Answer:')" "$words")
  "$atman" explain --model "$model" --prompt "$prompt" --target " Zurich" --conceptual-threshold off --quiet \
    --threads 1 --processes 2 --json "$work/gather_$words.json"
  $py - "$work/gather_$words.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
s = e["stats"]
rows = len(e["positions"])
length = max(m for p in e["positions"] for m in p["members"]) + 2
print(f"| {length} | {rows} | {s['gather_seconds'] * 1000:.2f} | {s['sweep_seconds']:.2f} |")
PY
done
