#!/usr/bin/python3
"""Prepares the GPT-J benchmark of docs/speed.md (not a test): a random
GPT-J-shaped Hugging Face folder of about 100M parameters (width 768, 12
layers, 3 heads of 256 with rotary_dim 64, the parallel block, MLP 2560,
vocabulary 16000, GPT-2-style BPE from tests/python/make_gpt_checkpoints.py),
imported with torchscript_models/import_checkpoint.py, and a Facts-QA prompt
cut (at a word, then inside the next one) so that prompt + target - 1 is
exactly --positions positions of the model's own tokenizer (GPT-J adds no
BOS). Then run `atman bench` on it:

Usage: tools/bench_gptj.py --out-dir /tmp/gptj100m [--positions 512]
       build/atman bench --model /tmp/gptj100m/gptj100m.pt --prompt "$(cat /tmp/gptj100m/prompt.txt)" \\
           --target " Paris" --threads 2 --repeat 1 --skip-bf16 --json gptj100m.json"""
import argparse
import json
import os
import subprocess
import sys
import zipfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not __package__:
    # Run by path (`python3 tools/bench_gptj.py`, as documented): import from the repository
    # root, as `python3 -m tools.bench_gptj` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tests.python import make_gpt_checkpoints as mg  # noqa: E402
from tests.python.reference_tokenizer import ReferenceTokenizer  # noqa: E402

SHAPE = dict(vocab_size=16000, n_positions=2048, n_embd=768, n_layer=12, n_head=3, rotary_dim=64, n_inner=2560)
FACTS = ("Alice lives in Paris. Bob works as a baker. Carol likes tea. Dave lives in Rome. Erin works as a doctor. "
         "Frank likes rice. Grace lives in Oslo. Heidi works as a pilot. ")
QUESTION = " Question: Where does Alice live? Answer:"
TARGET = " Paris"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--positions", type=int, default=512, help="sequence length (default 512)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder = os.path.join(args.out_dir, "src")
    config = mg.gptj_config(**SHAPE)
    mg.write_gpt_folder(folder, config, mg.gptj_state, seed=5)
    params = sum(t.numel() for k, t in mg.gptj_state(config, torch.Generator().manual_seed(5)).items()
                 if not k.endswith((".attn.bias", ".attn.masked_bias")))
    model = os.path.join(args.out_dir, "gptj100m.pt")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "torchscript_models", "import_checkpoint.py"), folder,
                    "--out", model], check=True)
    with zipfile.ZipFile(model) as z:  # the tokenizer.json the model carries

        name = next(n for n in z.namelist() if n.endswith("extra/atman/tokenizer.json"))
        tok = ReferenceTokenizer(z.read(name).decode("utf-8"))
    target = len(tok.encode(TARGET))
    words = (FACTS * 40).split()
    length = lambda n: len(tok.encode(" ".join(words[:n]) + QUESTION)) + target - 1  # noqa: E731
    low, high = 1, len(words)  # the most words whose sequence fits, by bisection
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if length(mid) <= args.positions else (low, mid - 1)
    # Then part of the next word, a character at a time, fills what a whole word overshoots.
    texts = [" ".join(words[:low] + [words[low][:k]]) for k in range(len(words[low]) + 1)]
    prompt = next((t + QUESTION for t in texts
                   if len(tok.encode(t + QUESTION)) + target - 1 == args.positions), None)
    if prompt is None:
        sys.exit("bench_gptj: no word boundary gives exactly %d positions" % args.positions)
    with open(os.path.join(args.out_dir, "prompt.txt"), "w") as f:
        f.write(prompt)
    print(json.dumps({"model": model, "parameters": params, "positions": args.positions,
                      "prompt_tokens": len(tok.encode(prompt)), "target_tokens": target}))


if __name__ == "__main__":
    main()
