#!/usr/bin/env bash
# Set-up, build, and explain the bundled Shapes-VQA example: writes an overlay
# PNG, an HTML report and the JSON under build/demo/ and prints where they are.
#
# Model: torchscript_models/tiny_magma.pt when it exists, otherwise a small
# random-weight test model (its heat map is then meaningless, but the whole
# path runs). Example: data/example/example.json ({"image", "question",
# "answer"}, image relative to that folder) when it exists, otherwise one
# generated with tools/benchdata (the benchmark's own generator).
#
# Usage: tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
tools/build.sh
out=build/demo
mkdir -p "$out"

model=torchscript_models/tiny_magma.pt
if [[ ! -f $model ]]; then
  model=build/test_models/image_text.pt
  [[ -f $model ]] || /usr/bin/python3 torchscript_models/make_test_models.py --out-dir build/test_models >/dev/null
  echo "demo: torchscript_models/tiny_magma.pt not found; using the random-weight test model $model"
fi

# Three lines: image path, question, answer.
mapfile -t example < <(/usr/bin/python3 - "$out/example.png" <<'PY'
import json, os, sys
if os.path.isfile("data/example/example.json"):
    e = json.load(open("data/example/example.json"))
    print(os.path.join("data/example", e["image"])); print(e["question"]); print(e["answer"])
else:
    import cv2
    import numpy as np
    from tools.benchdata.shapes import make_question, make_scene  # run from the repository root
    rng = np.random.default_rng(2301)
    image, objects = make_scene(rng, size=96)
    question, answer, _ = make_question(rng, objects)
    cv2.imwrite(sys.argv[1], cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(sys.argv[1]); print(question); print(answer)
PY
)
image=${example[0]} question=${example[1]} answer=${example[2]}
echo "demo: $image, \"$question\" -> \"$answer\""

build/atman explain --model "$model" --image "$image" --question "$question" --target " $answer" \
  --json "$out/explanation.json" --overlay "$out/overlay.png" --html "$out/report.html"
echo
echo "demo: overlay written to $(pwd)/$out/overlay.png"
