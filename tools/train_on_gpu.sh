#!/usr/bin/env bash
# The run that trained the shipped tiny_magma.pt: one GPU (an H100 here),
# bf16 autocast, 7.5 minutes. Weights land in $OUT (default checkpoints/gpu);
# export them with torchscript_models/export.py (docs/evaluation.md, "The shipped model: tiny-magma").
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-checkpoints/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 tools/train_tiny_magma.py --device cuda --bf16 --minutes "${MINUTES:-7.5}" \
  --vqa-batch 256 --facts-batch 256 --vqa-pool 150000 --facts-pool 400000 \
  --eval-every 500 --checkpoint-minutes 1.5 --checkpoint-dir /tmp/tiny_magma_ckpt \
  --weights-out "$out/weights" 2>&1 | tee "$out/train.log"
