#!/usr/bin/python3
"""Exports a TinyMagma (or any module with the contract methods) as an
explainable-model .pt: TorchScript plus atman/config.json and
atman/tokenizer.model (docs/contract.md).

Usage (after training): torchscript_models/export.py --weights W.npz [--weights W2.npz]
       --tokenizer torchscript_models/tokenizer.model --out torchscript_models/tiny_magma.pt
A longer-context copy of the shipped model (same weights; rotary positions
need no training to extend, though the model never saw such lengths), for
`atman bench --length-sweep`:
       torchscript_models/export.py --from torchscript_models/tiny_magma.pt --max-positions 1100
       --tokenizer torchscript_models/tokenizer.model --out build/tiny_magma_long.pt"""
import argparse
import json
import os
import sys

import numpy as np
import torch

if not __package__:
    # Run by path (`python3 torchscript_models/export.py`, as documented): import from the
    # repository root, as `python3 -m torchscript_models.export` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from torchscript_models.tiny_magma import TinyMagma  # noqa: E402

TINY_MAGMA_SHAPE = dict(width=256, layers=6, heads=8, mlp_width=768, adapter_width=64, max_positions=256)
PROMPT_TEMPLATE = "Question: {question} Answer:"


def make_config(model, name, image=True, template=PROMPT_TEMPLATE):
    return {
        "contract": 1,
        "name": name,
        "vocab_size": model.vocab_size,
        "hidden_size": model.width,
        "num_layers": model.num_layers,
        "num_heads": model.heads,
        "max_positions": model.max_positions,
        "add_bos": True,
        "bos_id": 1,
        "eos_id": 2,
        "image": {"size": [96, 96], "grid": [12, 12], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
        if image else None,
        "prompt_template": template,
    }


def save_contract_model(module, config, tokenizer_path, out_path):
    """Scripts `module` and writes it with the two contract extra files."""
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module.eval())
    with open(tokenizer_path, "rb") as f:
        tokenizer = f.read()
    extra = {"atman/config.json": json.dumps(config, indent=2), "atman/tokenizer.model": tokenizer}
    os.makedirs(os.path.dirname(os.path.abspath(out_path)) or ".", exist_ok=True)
    tmp = out_path + ".tmp"
    torch.jit.save(scripted, tmp, _extra_files=extra)
    os.replace(tmp, out_path)


def load_weights(paths):
    state = {}
    for path in paths:
        with np.load(path) as parts:
            for key in parts.files:
                state[key] = torch.from_numpy(parts[key].copy())
    return state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--weights", action="append", help="npz file(s) of the state dict")
    source.add_argument("--from", dest="from_pt", help="an exported TinyMagma .pt to take the weights from")
    parser.add_argument("--max-positions", type=int, default=TINY_MAGMA_SHAPE["max_positions"])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", default="tiny-magma")
    args = parser.parse_args()
    import sentencepiece as spm
    vocab_size = spm.SentencePieceProcessor(model_file=args.tokenizer).get_piece_size()
    shape = dict(TINY_MAGMA_SHAPE, max_positions=args.max_positions)
    model = TinyMagma(vocab_size, **shape)
    if args.from_pt:
        state = {k: v for k, v in torch.jit.load(args.from_pt).state_dict().items() if not k.startswith("rot_")}
    else:
        state = load_weights(args.weights)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        sys.exit("export: weights do not match the model: missing {} unexpected {}".format(missing, unexpected))
    save_contract_model(model.eval(), make_config(model, args.name), args.tokenizer, args.out)
    print("wrote {} ({:.1f} MB)".format(args.out, os.path.getsize(args.out) / 1e6))


if __name__ == "__main__":
    main()
