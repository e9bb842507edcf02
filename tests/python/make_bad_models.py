#!/usr/bin/python3
"""Writes broken models for the error-path tests: each must be refused (or
fail at run time) with one clear line.

Usage: tests/python/make_bad_models.py --out-dir build/test_models/bad
Writes: empty.pt, random_bytes.pt, zip_not_torchscript.pt, no_extra_files.pt,
        no_tokenizer.pt, not_contract.pt, config_not_json.pt, config_wrong_type.pt,
        config_missing_field.pt, bad_tokenizer.pt, nan_logits.pt, wrong_vocab.pt,
        huge_vocab.pt (config claims 2^40 vocabulary entries: refused by the memory check)"""
import argparse
import json
import os
import zipfile

import torch
from torch import Tensor, nn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torchscript_models.export import make_config  # noqa: E402
from torchscript_models.make_test_models import RequiredMethodsOnly  # noqa: E402
from torchscript_models.tiny_magma import TinyMagma  # noqa: E402


class NotContract(nn.Module):
    """A TorchScript module with forward only."""

    def forward(self, x: Tensor) -> Tensor:
        return x * 2


class Wrapped(RequiredMethodsOnly):
    """Only the three required methods; forward's logits post-processed."""

    def __init__(self, inner: TinyMagma, mode: str):
        super().__init__(inner)
        self.mode = mode

    def forward(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        logits = self.inner(embeddings, attention_modifier)
        if self.mode == "nan":
            return logits * float("nan")
        return logits[:, :, :-1]  # one vocabulary entry short


class ShortLrp(RequiredMethodsOnly):
    """forward_lrp's logits one vocabulary entry short (its output is checked)."""

    @torch.jit.export
    def forward_lrp(self, embeddings: Tensor) -> Tensor:
        return self.inner.forward_lrp(embeddings)[:, :, :-1]


class LrpTakesTwo(RequiredMethodsOnly):
    """forward_lrp with a modifier argument the contract does not have."""

    @torch.jit.export
    def forward_lrp(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.inner(embeddings, attention_modifier)


class AdditiveTakesOne(RequiredMethodsOnly):
    """forward_additive without its attention_bias argument."""

    @torch.jit.export
    def forward_additive(self, embeddings: Tensor) -> Tensor:
        return self.inner.forward_additive(embeddings, embeddings.new_zeros(embeddings.size(0), embeddings.size(1)))


class InconsistentHead(TinyMagma):
    """lm_head (prefix reuse's projection) disagrees with forward's: `atman
    bench` must refuse the timing of a strategy that does not agree."""

    @torch.jit.export
    def lm_head(self, hidden: Tensor) -> Tensor:
        return self.head(hidden) * 1.5


def save(module, out_path, extra):
    scripted = module if isinstance(module, torch.jit.ScriptModule) else torch.jit.script(module.eval())
    torch.jit.save(scripted, out_path, _extra_files=extra)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--tokenizer", default=os.path.join(ROOT, "torchscript_models", "tokenizer.model"))
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    out = lambda name: os.path.join(args.out_dir, name)  # noqa: E731
    with open(args.tokenizer, "rb") as f:
        tokenizer = f.read()
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_file=args.tokenizer).get_piece_size()
    torch.manual_seed(5)
    model = TinyMagma(vocab, width=16, layers=1, heads=2, mlp_width=32, adapter_width=4, max_positions=200).eval()
    config = make_config(model, "bad-model")
    good_extra = {"atman/config.json": json.dumps(config), "atman/tokenizer.model": tokenizer}

    open(out("empty.pt"), "wb").close()
    with open(out("random_bytes.pt"), "wb") as f:
        f.write(os.urandom(4096))
    with zipfile.ZipFile(out("zip_not_torchscript.pt"), "w") as z:
        z.writestr("archive/readme.txt", "a zip file, but not TorchScript")
    save(model, out("no_extra_files.pt"), {})
    save(model, out("no_tokenizer.pt"), {"atman/config.json": json.dumps(config)})
    save(NotContract(), out("not_contract.pt"), good_extra)
    save(model, out("config_not_json.pt"), dict(good_extra, **{"atman/config.json": "{not json"}))
    wrong_type = dict(config, hidden_size="16")
    save(model, out("config_wrong_type.pt"), dict(good_extra, **{"atman/config.json": json.dumps(wrong_type)}))
    missing = {k: v for k, v in config.items() if k != "max_positions"}
    save(model, out("config_missing_field.pt"), dict(good_extra, **{"atman/config.json": json.dumps(missing)}))
    save(model, out("bad_tokenizer.pt"), dict(good_extra, **{"atman/tokenizer.model": b"\x01not a sentencepiece model"}))
    save(Wrapped(model, "nan"), out("nan_logits.pt"), good_extra)
    save(Wrapped(model, "short"), out("wrong_vocab.pt"), good_extra)
    save(ShortLrp(model), out("short_lrp.pt"), good_extra)
    save(LrpTakesTwo(model), out("lrp_takes_two.pt"), good_extra)
    save(AdditiveTakesOne(model), out("additive_takes_one.pt"), good_extra)
    torch.manual_seed(5)
    inconsistent = InconsistentHead(vocab, width=16, layers=1, heads=2, mlp_width=32, adapter_width=4,
                                    max_positions=200).eval()
    save(inconsistent, out("inconsistent_head.pt"), good_extra)
    huge = dict(config, vocab_size=2 ** 40)
    save(Wrapped(model, "nan"), out("huge_vocab.pt"), dict(good_extra, **{"atman/config.json": json.dumps(huge)}))
    print("wrote bad models to " + args.out_dir)


if __name__ == "__main__":
    main()
