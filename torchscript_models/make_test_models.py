#!/usr/bin/python3
"""Writes small random-weight contract models for tests, and is the reference
for writing one: any module with embed_text, embed_image and
forward(embeddings, attention_modifier), saved with atman/config.json and
atman/tokenizer.model, is an explainable model.

Usage: torchscript_models/make_test_models.py --out-dir build/test_models
Writes: image_text.pt   (image prefix + LM, every optional method, the *_additive
                         methods of the log-additive control and forward_lrp included)
        text_only.pt    (config image = null)
        minimal.pt      (image + LM with only the three required methods)
        long_context.pt (text only, max_positions 1100, for length sweeps)
        image_middle.pt (image + LM, every optional method; the template places the
                         image inside the prompt, "USER: {image}\n{question} ASSISTANT:",
                         and image.resize is center_crop: docs/contract.md)
        shifted.pt      (text only, only the required methods; forward adds a fixed
                         vector to the embeddings, so that the integrated-gradients
                         path from the zero embedding stays clear of LayerNorm's
                         eps region and its Riemann sum converges as 1/steps^2)"""
import argparse
import os
import sys

import torch
from torch import Tensor, nn

if not __package__:
    # Run by path (`python3 torchscript_models/make_test_models.py`, as documented): import from the
    # repository root, as `python3 -m torchscript_models.make_test_models` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from torchscript_models.export import make_config, save_contract_model  # noqa: E402
from torchscript_models.tiny_magma import TinyMagma  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class RequiredMethodsOnly(nn.Module):
    """Wraps a TinyMagma with only the three required methods (the tool must
    fall back for the rest); subclasses change forward."""

    def __init__(self, inner: TinyMagma):
        super().__init__()
        self.inner = inner

    @torch.jit.export
    def embed_text(self, ids: Tensor) -> Tensor:
        return self.inner.embed_text(ids)

    @torch.jit.export
    def embed_image(self, pixels: Tensor) -> Tensor:
        return self.inner.embed_image(pixels)

    def forward(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.inner(embeddings, attention_modifier)


class ShiftedEmbeddings(RequiredMethodsOnly):
    """forward(e, m) = inner(e + shift, m): a smooth function of e on the whole
    segment [0, e] (the inner model's LayerNorms never see inputs near 0)."""

    def __init__(self, inner: TinyMagma, seed: int):
        super().__init__(inner)
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("shift", torch.randn(inner.width, generator=gen))

    def forward(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.inner(embeddings + self.shift, attention_modifier)


def randomize(model, seed):
    """Random weights with enough spread that relevance is far from zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5 * 1.5)
            elif "ln" in name or "norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen)) if name.endswith("weight") else \
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return model.eval()


def build(name, vocab_size, seed, image=True, max_positions=256):
    torch.manual_seed(seed)
    model = TinyMagma(vocab_size, width=32, layers=2, heads=4, mlp_width=64, adapter_width=8,
                      max_positions=max_positions, with_image=image)
    return randomize(model, seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--tokenizer", default=os.path.join(HERE, "tokenizer.model"))
    args = parser.parse_args()
    import sentencepiece as spm
    vocab_size = spm.SentencePieceProcessor(model_file=args.tokenizer).get_piece_size()
    os.makedirs(args.out_dir, exist_ok=True)

    def write(module, config, filename):
        save_contract_model(module, config, args.tokenizer, os.path.join(args.out_dir, filename))

    image_text = build("image_text", vocab_size, seed=1)
    write(image_text, make_config(image_text, "test-image-text"), "image_text.pt")
    text_only = build("text_only", vocab_size, seed=2, image=False)
    write(text_only, make_config(text_only, "test-text-only", image=False,
                                 template="{question}"), "text_only.pt")
    minimal = build("minimal", vocab_size, seed=3)
    write(RequiredMethodsOnly(minimal), make_config(minimal, "test-minimal"), "minimal.pt")
    long_context = build("long_context", vocab_size, seed=4, image=False, max_positions=1100)
    write(long_context, make_config(long_context, "test-long-context", image=False,
                                    template="{question}"), "long_context.pt")
    shifted = build("shifted", vocab_size, seed=5, image=False)
    write(ShiftedEmbeddings(shifted, seed=5), make_config(shifted, "test-shifted", image=False,
                                                           template="{question}"), "shifted.pt")
    image_middle = build("image_middle", vocab_size, seed=6)
    middle_config = make_config(image_middle, "test-image-middle", template="USER: {image}\n{question} ASSISTANT:")
    middle_config["image"]["resize"] = "center_crop"
    write(image_middle, middle_config, "image_middle.pt")
    print("wrote test models to " + args.out_dir)


if __name__ == "__main__":
    main()
