#!/usr/bin/python3
"""Measures torchscript_models/import_checkpoint.py (a benchmark, not a test):
peak resident memory (the importer child's ru_maxrss) and wall time when
importing a random LLaMA-shaped Hugging Face folder (sharded safetensors,
written tensor by tensor under --work-dir) of at least 500M parameters,
against the size of the model file it writes (goal: peak <= 1.5x the output).

Usage: tools/bench_importer.py [--work-dir /tmp/atman_importer_bench] [--dtypes float32,bfloat16]
       tools/bench_importer.py --write-100m /tmp/llama100m [--import-to /tmp/llama100m.pt]
         (a ~100M-parameter LLaMA-shaped folder, width 768, grouped-query
          attention, for `atman bench`; nothing is measured)"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not __package__:
    # Run by path (`python3 tools/bench_importer.py`, as documented): import from the repository
    # root, as `python3 -m tools.bench_importer` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tests.python import make_hf_checkpoints as mk  # noqa: E402

IMPORTER = os.path.join(ROOT, "torchscript_models", "import_checkpoint.py")
PYTHON = "/usr/bin/python3"
# ~574M parameters: 10 layers of width 2048 (16 heads, 4 key-value heads), MLP 5504, vocabulary 32000.
LARGE = dict(width=2048, layers=10, heads=16, kv_heads=4, mlp=5504, vocab=32000, shards=4)
# ~100M parameters: 12 layers of width 768 (12 heads, 4 key-value heads), MLP 2048, vocabulary 16000.
SMALL = dict(width=768, layers=12, heads=12, kv_heads=4, mlp=2048, vocab=16000, shards=2)


def measured_run(cmd):
    """(exit status, peak RSS in bytes, wall seconds) of one child process."""
    started = time.time()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.time() - started
    err = child.stderr.read().decode().strip()
    if status:
        sys.exit("bench_importer: %s failed: %s" % (" ".join(cmd), err))
    return usage.ru_maxrss * 1024, wall  # Linux reports kilobytes


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", default="/tmp/atman_importer_bench", help="(default /tmp/atman_importer_bench)")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="output dtypes (default float32,bfloat16)")
    parser.add_argument("--checkpoint-dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"],
                        help="(default bfloat16)")
    parser.add_argument("--write-100m", metavar="DIR", help="only write the ~100M-parameter folder to DIR")
    parser.add_argument("--import-to", metavar="PT", help="with --write-100m: import it to this .pt as well")
    parser.add_argument("--keep", action="store_true", help="keep the generated checkpoint and outputs")
    args = parser.parse_args()
    import torch

    if args.write_100m:
        n = mk.write_large_llama_folder(args.write_100m, dtype=torch.bfloat16, **SMALL)
        print("wrote %s: %.1fM parameters (%s)" % (args.write_100m, n / 1e6, SMALL))
        if args.import_to:
            cmd = [PYTHON, IMPORTER, args.write_100m, "--out", args.import_to, "--max-positions", "1024"]
            print("$ " + " ".join(cmd))
            subprocess.run(cmd, check=True)
        return 0

    folder = os.path.join(args.work_dir, "llama574m")
    started = time.time()
    n = mk.write_large_llama_folder(folder, dtype=getattr(torch, args.checkpoint_dtype), **LARGE)
    print("generated %s: %.1fM parameters, %.2f GB of %s safetensors in %d shards, %.0f s"
          % (folder, n / 1e6, folder_bytes(folder) / 1e9, args.checkpoint_dtype, LARGE["shards"],
             time.time() - started))
    rows = []
    for dtype in args.dtypes.split(","):
        out = os.path.join(args.work_dir, "llama574m_%s.pt" % dtype)
        cmd = [PYTHON, IMPORTER, folder, "--out", out, "--dtype", dtype]
        print("$ " + " ".join(cmd), flush=True)
        peak, wall = measured_run(cmd)
        size = os.path.getsize(out)
        rows.append((args.checkpoint_dtype, dtype, n, size, peak, wall))
        if not args.keep:
            os.remove(out)
    print()
    print("| checkpoint | output | parameters | output file | peak RSS | peak / output | wall |")
    print("|---|---|---|---|---|---|---|")
    for src, dst, params, size, peak, wall in rows:
        print("| %s | %s | %.0fM | %.2f GB | %.2f GB | %.2fx | %.0f s |"
              % (src, dst, params / 1e6, size / 1e9, peak / 1e9, peak / size, wall))
    if not args.keep:
        for f in os.listdir(folder):
            os.remove(os.path.join(folder, f))
        os.rmdir(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
