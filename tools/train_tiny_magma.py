#!/usr/bin/python3
"""Trains tiny-magma on Shapes-VQA and Facts-QA (docs/evaluation.md) and
writes its weights; torchscript_models/export.py turns them into the shipped
contract model.

Reproducible from --seed; prints held-out exact-match accuracy per task as it
goes; checkpoints every --checkpoint-minutes to --checkpoint-dir and resumes
from there (a run can outlast a working session).

Usage:
  tools/train_tiny_magma.py --minutes 120 --checkpoint-dir checkpoints/tiny_magma \\
      --weights-out checkpoints/tiny_magma/weights   # writes weights-0.npz, weights-1.npz
  torchscript_models/export.py --weights checkpoints/tiny_magma/weights-0.npz \\
      --weights checkpoints/tiny_magma/weights-1.npz --tokenizer torchscript_models/tokenizer.model \\
      --out torchscript_models/tiny_magma.pt

Recipe (why): a convolutional image stem with an auxiliary per-patch
colour/shape loss (a plain strided patch stem stays at chance), and Facts-QA
contexts biased towards several facts of the asked relation early on, so the
model must bind the asked name to its sentence instead of guessing the
relation's only value."""
import argparse
import math
import multiprocessing as mp
import os
import sys
import time

import cv2
import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not __package__:
    # Run by path (`python3 tools/train_tiny_magma.py`, as documented): import from the repository
    # root, as `python3 -m tools.train_tiny_magma` does.
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tools.benchdata import facts, shapes  # noqa: E402
from tools.benchdata.vocab import load_vocab  # noqa: E402
from torchscript_models.export import TINY_MAGMA_SHAPE  # noqa: E402
from torchscript_models.tiny_magma import TinyMagma  # noqa: E402

IMAGE_SIZE = 96
GRID = 12
PROMPT = "Question: {} Answer:"
TOKENIZER = os.path.join(ROOT, "torchscript_models", "tokenizer.model")


def resize_like_cpp(image, size=IMAGE_SIZE):
    """The C++ loader's resize: INTER_AREA when shrinking, INTER_LINEAR otherwise."""
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if (h > size or w > size) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


# --- data pools, made in worker processes ----------------------------------
def _vqa_chunk(args):
    seed, count, sizes = args
    rng = np.random.default_rng(seed)
    vocab = load_vocab()
    images = np.zeros((count, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    objects = np.full((count, 4, 2), -1, np.int8)  # (colour index, shape index)
    patch_color = np.zeros((count, GRID * GRID), np.int8)
    patch_shape = np.zeros((count, GRID * GRID), np.int8)
    for i in range(count):
        size = int(sizes[int(rng.integers(0, len(sizes)))])
        image, objs = shapes.make_scene(rng, size, vocab)
        images[i] = resize_like_cpp(image)
        for j, obj in enumerate(objs):
            objects[i, j] = (shapes.COLOR_NAMES.index(obj["color"]), shapes.SHAPES.index(obj["shape"]))
        c, s = shapes.patch_labels(objs, size, GRID)
        patch_color[i], patch_shape[i] = c, s
    return images, objects, patch_color, patch_shape


def _facts_chunk(args):
    seed, count, bias_choices, length, count_range = args
    rng = np.random.default_rng(seed)
    vocab = load_vocab()
    sp = spm.SentencePieceProcessor(model_file=TOKENIZER)
    tokens = np.zeros((count, length), np.int16)
    answer_mask = np.zeros((count, length), np.bool_)
    text_mask = np.zeros((count, length), np.bool_)
    binding = np.full((count, length), -1, np.int8)  # name index carried by a position (auxiliary target)
    for i in range(count):
        bias = bias_choices[int(rng.integers(0, len(bias_choices)))]
        item = facts.make_item(rng, vocab, same_relation_bias=bias, count_range=count_range)
        prompt = [1]
        for name, relation, value in item["facts"]:  # sentence by sentence, to know where values are
            piece = sp.encode(facts.sentence(name, relation, value))
            value_id = sp.encode(" " + value)[0]
            binding[i, len(prompt) + piece.index(value_id)] = vocab["names"].index(name)
            prompt += piece
        prompt += sp.encode(" Question: {} Answer:".format(item["question"]))
        asked_name = item["facts"][item["asked"]][0]
        binding[i, len(prompt) - 1] = vocab["names"].index(asked_name)
        answer = sp.encode(" " + item["answer"]) + [2]
        seq = (prompt + answer)[:length]
        tokens[i, :len(seq)] = seq
        answer_mask[i, len(prompt):len(seq)] = True
        text_mask[i, 1:len(seq)] = True
    return tokens, answer_mask, text_mask, binding


def make_pools(pool, seed, vqa_count, facts_count, sizes, bias_choices, facts_length, chunk=2000,
               count_range=(3, 6)):
    vqa_jobs = [(seed * 1000003 + k, min(chunk, vqa_count - k * chunk), sizes)
                for k in range(math.ceil(vqa_count / chunk))]
    facts_jobs = [(seed * 1000033 + k + 7, min(chunk * 5, facts_count - k * chunk * 5), bias_choices, facts_length, count_range)
                  for k in range(math.ceil(facts_count / (chunk * 5)))]
    vqa = pool.map_async(_vqa_chunk, vqa_jobs)
    fq = pool.map_async(_facts_chunk, facts_jobs)
    v = [np.concatenate(parts) for parts in zip(*vqa.get())]
    f = [np.concatenate(parts) for parts in zip(*fq.get())]
    return v, f


class VqaText:
    """All (question, answer) token sequences of Shapes-VQA, padded: the
    question is drawn per example on the device from the image's objects."""

    def __init__(self, sp, device):
        rows, masks = [], []
        for shape in shapes.SHAPES:  # colour questions: index shape*5 + colour
            for color in shapes.COLOR_NAMES:
                rows.append(self._seq(sp, "What color is the {}?".format(shape), color))
        for color in shapes.COLOR_NAMES:  # shape questions: 20 + colour*4 + shape
            for shape in shapes.SHAPES:
                rows.append(self._seq(sp, "What shape is the {} object?".format(color), shape))
        length = max(len(r[0]) for r in rows)
        tokens = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for i, (seq, start) in enumerate(rows):
            tokens[i, :len(seq)] = torch.tensor(seq)
            mask[i, start:len(seq)] = True
        self.tokens, self.mask = tokens.to(device), mask.to(device)

    @staticmethod
    def _seq(sp, question, answer):
        prompt = [1] + sp.encode(PROMPT.format(question))
        return prompt + sp.encode(" " + answer) + [2], len(prompt)

    def sample(self, objects, generator):
        """objects [B,4,2] (colour, shape; -1 = none) -> token rows [B,L], answer mask."""
        count = (objects[:, :, 0] >= 0).sum(1)
        pick = (torch.rand(objects.size(0), device=objects.device, generator=generator) * count).long()
        chosen = objects[torch.arange(objects.size(0), device=objects.device), pick].long()
        ask_color = torch.rand(objects.size(0), device=objects.device, generator=generator) < 0.5
        index = torch.where(ask_color, chosen[:, 1] * 5 + chosen[:, 0], 20 + chosen[:, 0] * 4 + chosen[:, 1])
        return self.tokens[index], self.mask[index]


class Trainer(nn.Module):
    """TinyMagma plus the auxiliary per-patch heads used only in training."""

    def __init__(self, vocab_size):
        super().__init__()
        self.model = TinyMagma(vocab_size, **TINY_MAGMA_SHAPE)
        features = self.model.image.norm.normalized_shape[0]
        self.patch_color = nn.Linear(features, 1 + len(shapes.COLOR_NAMES))
        self.patch_shape = nn.Linear(features, 1 + len(shapes.SHAPES))
        # Binding probe: a middle layer must know which name a value token (or
        # the question's last token) belongs to; breaks the plateau where the
        # model answers by relation alone.
        self.binding = nn.Linear(self.model.width, len(load_vocab()["names"]))
        self.binding_layer = self.model.num_layers // 2 - 1

    def vqa_loss(self, pixels, tokens, answer_mask, patch_color, patch_shape):
        feats = self.model.image.features(pixels)
        image = self.model.image.proj(feats)
        text = self.model.embed_text(tokens[:, :-1])
        emb = torch.cat([image, text], dim=1)
        logits = self.model(emb, emb.new_ones(emb.shape[:2]))[:, image.size(1):]
        answer_loss, correct = masked_ce(logits, tokens[:, 1:], answer_mask[:, 1:])
        aux = F.cross_entropy(self.patch_color(feats).flatten(0, 1).float(), patch_color.flatten().long()) + \
            F.cross_entropy(self.patch_shape(feats).flatten(0, 1).float(), patch_shape.flatten().long())
        return answer_loss, aux, correct

    def facts_loss(self, tokens, answer_mask, text_mask, binding=None):
        x = self.model.embed_text(tokens[:, :-1])
        modifier = x.new_ones(x.shape[:2])
        empty = x.new_zeros(x.size(0), self.model.heads, 0, self.model.width // self.model.heads)
        cos, sin = self.model._cos(0, x.size(1)), self.model._sin(0, x.size(1))
        middle = x
        for i, block in enumerate(self.model.blocks):
            x, _, _, _ = block(x, cos, sin, modifier, empty, empty)
            if i == self.binding_layer:
                middle = x
        logits = self.model.head(self.model.final_ln(x))
        answer_loss, correct = masked_ce(logits, tokens[:, 1:], answer_mask[:, 1:])
        lm_loss, _ = masked_ce(logits, tokens[:, 1:], text_mask[:, 1:])
        if binding is not None:
            target = binding[:, :-1]
            lm_loss = lm_loss + F.cross_entropy(self.binding(middle).float().flatten(0, 1), target.flatten(),
                                                ignore_index=-1)
        return answer_loss, lm_loss, correct


def masked_ce(logits, labels, mask):
    """Mean CE over masked positions, and per-row exact match (every masked
    position's argmax right, i.e. the greedy answer equals the target)."""
    flat = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)
    loss = (flat * mask).sum() / mask.sum().clamp(min=1)
    right = (logits.argmax(-1) == labels) | ~mask
    return loss, right.all(dim=1)


def normalise(images_uint8):
    """[B,H,W,3] uint8 RGB -> [B,3,H,W] float, (x/255 - 0.5) / 0.5 as the config says."""
    return (images_uint8.permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5


def save_weights(model, prefix, max_bytes=12_000_000):
    """The model's state dict as npz parts under max_bytes each (transfer limits)."""
    state = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    parts, current, size = [], {}, 0
    for key, value in state.items():
        if current and size + value.nbytes > max_bytes:
            parts.append(current)
            current, size = {}, 0
        current[key] = value
        size += value.nbytes
    parts.append(current)
    for old in range(10):
        path = "{}-{}.npz".format(prefix, old)
        if os.path.exists(path) and old >= len(parts):
            os.remove(path)
    for i, part in enumerate(parts):
        tmp = "{}-{}.tmp.npz".format(prefix, i)
        np.savez(tmp, **part)
        os.replace(tmp, "{}-{}.npz".format(prefix, i))


def load_weights_into(model, paths):
    state = {}
    for path in paths:
        with np.load(path) as parts:
            state.update({k: torch.from_numpy(parts[k].copy()) for k in parts.files})
    model.load_state_dict(state, strict=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=20261126)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--minutes", type=float, default=60.0, help="training time budget of this run")
    p.add_argument("--total-minutes", type=float, default=None,
                   help="length of the whole schedule (defaults to --minutes; set it when resuming)")
    p.add_argument("--max-steps", type=int, default=10 ** 9)
    p.add_argument("--vqa-batch", type=int, default=128)
    p.add_argument("--facts-batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--vqa-pool", type=int, default=60000)
    p.add_argument("--facts-pool", type=int, default=300000)
    p.add_argument("--facts-bias", default="0,0,0.4,0.7,1",
                   help="training-only same-relation biases to draw from (curriculum)")
    p.add_argument("--facts-counts", default="3,6", help="training context sizes, min,max")
    p.add_argument("--lm-weight", type=float, default=0.1,
                   help="weight of the all-token LM loss plus the binding probe's loss")
    p.add_argument("--eval-items", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--checkpoint-dir", default=os.path.join(ROOT, "checkpoints", "tiny_magma"))
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--weights-out", default=None, help="prefix of the npz weight parts (default: in checkpoint dir)")
    p.add_argument("--init-weights", action="append", default=[], help="npz parts to start from")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU)")
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    os.makedirs(args.checkpoint_dir, exist_ok=True)
    weights_out = args.weights_out or os.path.join(args.checkpoint_dir, "weights")
    sp = spm.SentencePieceProcessor(model_file=TOKENIZER)
    step, elapsed_before, state = 0, 0.0, None
    ckpt_path = os.path.join(args.checkpoint_dir, "trainer.pt")
    if os.path.exists(ckpt_path):
        state = torch.load(ckpt_path, map_location="cpu")
        step, elapsed_before = state["step"], state["elapsed"]
    total_seconds = 60 * (args.total_minutes or args.minutes)

    t0 = time.time()  # the pools are made before CUDA starts: workers are forked
    sizes = [96] * 4 + list(range(64, 200, 8))  # mostly 96 px, but any size resized like the C++ loader
    with mp.get_context("fork").Pool(args.workers) as pool:
        (images, objects, pcolor, pshape), (ftok, fans, ftext, fbind) = make_pools(
            pool, args.seed + step, args.vqa_pool, args.facts_pool, sizes,
            [float(b) for b in args.facts_bias.split(",")], 72,
            count_range=tuple(int(c) for c in args.facts_counts.split(",")))
        (ev_images, ev_objects, _, _), (ev_ftok, ev_fans, _, _) = make_pools(
            pool, 777, args.eval_items, args.eval_items, [96, 160], [0.0], 72, chunk=500)
    print("data pools ready in {:.1f}s: {} images, {} facts".format(time.time() - t0, len(images), len(ftok)), flush=True)
    trainer = Trainer(sp.get_piece_size())
    if state is not None:
        trainer.load_state_dict(state["trainer"], strict=False)
    elif args.init_weights:
        load_weights_into(trainer.model, args.init_weights)
        print("initialised from " + ", ".join(args.init_weights), flush=True)
    trainer.to(device)
    optim = torch.optim.AdamW(trainer.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    if state is not None:
        optim.load_state_dict(state["optim"])
        print("resumed from {} at step {} ({:.1f} min trained)".format(ckpt_path, step, elapsed_before / 60), flush=True)
    to = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    images, objects, pcolor, pshape = to(images), to(objects), to(pcolor), to(pshape)
    ftok, fans, ftext, fbind = to(ftok).long(), to(fans), to(ftext), to(fbind).long()
    ev_images, ev_objects, ev_ftok, ev_fans = to(ev_images), to(ev_objects), to(ev_ftok).long(), to(ev_fans)
    vqa_text = VqaText(sp, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed + step)

    def evaluate():
        trainer.eval()
        eg = torch.Generator(device=device)
        eg.manual_seed(4242)
        vqa_right, facts_right = [], []
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            for s in range(0, len(ev_images), 250):
                tok, mask = vqa_text.sample(ev_objects[s:s + 250], eg)
                vqa_right.append(_vqa_right(trainer, normalise(ev_images[s:s + 250]), tok, mask))
                _, _, right = trainer.facts_loss(ev_ftok[s:s + 250], ev_fans[s:s + 250], ev_fans[s:s + 250])
                facts_right.append(right)
        trainer.train()
        return torch.cat(vqa_right).float().mean().item(), torch.cat(facts_right).float().mean().item()

    last_ckpt = time.time()
    start = time.time()
    run_seconds = 60 * args.minutes
    log = {"loss": 0.0, "aux": 0.0, "facts": 0.0, "n": 0}
    trainer.train()
    while step < args.max_steps and time.time() - start < run_seconds:
        progress = min(1.0, (elapsed_before + time.time() - start) / total_seconds)
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optim.param_groups:
            group["lr"] = lr
        vi = torch.randint(0, len(images), (args.vqa_batch,), device=device, generator=gen)
        fi = torch.randint(0, len(ftok), (args.facts_batch,), device=device, generator=gen)
        tok, mask = vqa_text.sample(objects[vi], gen)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            vqa_loss, aux, _ = trainer.vqa_loss(normalise(images[vi]), tok, mask, pcolor[vi], pshape[vi])
            facts_loss, lm_loss, _ = trainer.facts_loss(ftok[fi], fans[fi], ftext[fi], fbind[fi])
            loss = vqa_loss + 0.5 * aux + facts_loss + args.lm_weight * lm_loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.parameters(), 1.0)
        optim.step()
        step += 1
        log["loss"] += vqa_loss.item() if step % 50 == 0 else 0.0
        if step % 50 == 0:
            log["aux"] += aux.item()
            log["facts"] += facts_loss.item()
            log["n"] += 1
        if step == 100:
            print("speed: {:.1f} steps/s".format(100 / (time.time() - start)), flush=True)
        if step % args.eval_every == 0:
            vqa_acc, facts_acc = evaluate()
            n = max(1, log["n"])
            print("step {} {:.1f} min lr {:.2e} vqa_loss {:.3f} aux {:.3f} facts_loss {:.3f} | held-out "
                  "exact match: shapes-vqa {:.3f} facts-qa {:.3f}".format(
                      step, (elapsed_before + time.time() - start) / 60, lr, log["loss"] / n, log["aux"] / n,
                      log["facts"] / n, vqa_acc, facts_acc), flush=True)
            log = {"loss": 0.0, "aux": 0.0, "facts": 0.0, "n": 0}
        if time.time() - last_ckpt > 60 * args.checkpoint_minutes:
            checkpoint(trainer, optim, step, elapsed_before + time.time() - start, ckpt_path, weights_out)
            last_ckpt = time.time()
    checkpoint(trainer, optim, step, elapsed_before + time.time() - start, ckpt_path, weights_out)
    vqa_acc, facts_acc = evaluate()
    print("final step {} ({:.1f} min): held-out exact match shapes-vqa {:.3f} facts-qa {:.3f}".format(
        step, (elapsed_before + time.time() - start) / 60, vqa_acc, facts_acc), flush=True)


def _vqa_right(trainer, pixels, tokens, mask):
    image = trainer.model.embed_image(pixels)
    text = trainer.model.embed_text(tokens[:, :-1])
    emb = torch.cat([image, text], dim=1)
    logits = trainer.model(emb, emb.new_ones(emb.shape[:2]))[:, image.size(1):]
    return masked_ce(logits, tokens[:, 1:], mask[:, 1:])[1]


def checkpoint(trainer, optim, step, elapsed, ckpt_path, weights_out):
    tmp = ckpt_path + ".tmp"
    torch.save({"trainer": trainer.state_dict(), "optim": optim.state_dict(), "step": step, "elapsed": elapsed}, tmp)
    os.replace(tmp, ckpt_path)
    save_weights(trainer.model, weights_out)
    print("checkpoint at step {} -> {}".format(step, ckpt_path), flush=True)


if __name__ == "__main__":
    main()
