#!/usr/bin/python3
"""Writes held-out benchmark sets (docs/evaluation.md), deterministic from a seed.

Usage: tools/make_datasets.py --out data/heldout --seed 9001 --count 500 [--image-size 96]
       tools/make_datasets.py --task stories --model stories260K.pt --out build/stories --count 40
Writes OUT/shapes_vqa/items.jsonl (+ images/, masks/) and OUT/facts_qa/items.jsonl,
or with --task stories OUT/stories/items.jsonl.

Item fields (one JSON object per line):
  shapes_vqa: id, task, image, mask (paths relative to items.jsonl; mask is the
              asked object's pixel mask, 255 inside), question, answer, target
              (" " + answer), image_size, objects [{shape, color, box [y, x, side]}]
  facts_qa:   id, task, prompt (verbatim, "{context} Question: {question} Answer:"),
              context, question, answer, target, evidence_span [start, end) in
              prompt characters (the evidence sentence), facts [[name, relation, value]]
  stories:    id, task, prompt (a story opening that stops mid-sentence, tools/benchdata/stories.py),
              answer and target: the model's greedy next word (the text of its greedy tokens from
              the first one to the one before the next word-start piece), no evidence span: the
              set of `atman eval --faithfulness` on a real model. Prompts whose greedy next token
              does not start a word (punctuation) are skipped, so the set depends on the model only
              through its answers. Model output: write it into a build folder, never commit it.
The training seeds (tools/train_tiny_magma.py) differ from every seed used here."""
import argparse
import json
import os
import sys

import cv2
import numpy as np

from benchdata import facts, shapes, stories
from benchdata.vocab import load_vocab


def write_shapes(out, seed, count, size, vocab):
    folder = os.path.join(out, "shapes_vqa")
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    os.makedirs(os.path.join(folder, "masks"), exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(os.path.join(folder, "items.jsonl"), "w") as f:
        for i in range(count):
            image, objects = shapes.make_scene(rng, size, vocab)
            question, answer, asked = shapes.make_question(rng, objects)
            name = "{:04d}.png".format(i)
            cv2.imwrite(os.path.join(folder, "images", name), image[:, :, ::-1])
            cv2.imwrite(os.path.join(folder, "masks", name), objects[asked]["mask"].astype(np.uint8) * 255)
            item = {"id": "shapes-{:04d}".format(i), "task": "shapes_vqa", "image": "images/" + name,
                    "mask": "masks/" + name, "question": question, "answer": answer, "target": " " + answer,
                    "image_size": size,
                    "objects": [{"shape": o["shape"], "color": o["color"], "box": list(o["box"])} for o in objects]}
            f.write(json.dumps(item) + "\n")


def write_facts(out, seed, count, vocab):
    folder = os.path.join(out, "facts_qa")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(os.path.join(folder, "items.jsonl"), "w") as f:
        for i in range(count):
            item = facts.make_item(rng, vocab)
            row = {"id": "facts-{:04d}".format(i), "task": "facts_qa", "prompt": item["prompt"],
                   "context": item["context"], "question": item["question"], "answer": item["answer"],
                   "target": " " + item["answer"], "evidence_span": item["evidence_span"], "facts": item["facts"]}
            f.write(json.dumps(row) + "\n")


class GreedyModel:
    """A contract model's greedy decoding in Python (docs/contract.md: embed_text, forward with modifier 1)."""

    def __init__(self, path):
        import sentencepiece as spm
        import torch
        self.torch = torch
        extra = {"atman/config.json": "", "atman/tokenizer.model": ""}
        self.module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
        self.config = json.loads(extra["atman/config.json"])
        self.sp = spm.SentencePieceProcessor()
        self.sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])

    def next_word(self, prompt, max_tokens=8):
        """The greedy continuation's first word (its pieces up to the next word start), or None when the
        first greedy piece does not start a word."""
        torch = self.torch
        ids = ([self.config["bos_id"]] if self.config["add_bos"] else []) + self.sp.encode(prompt)
        pieces = []
        with torch.no_grad():
            for _ in range(max_tokens):
                emb = self.module.embed_text(torch.tensor([ids]))
                logits = self.module.forward(emb, torch.ones(1, len(ids)))
                token = int(logits[0, -1].argmax())
                piece = self.sp.IdToPiece(token)
                if pieces and (piece.startswith("\u2581") or not piece.strip("\u2581").isalpha()):
                    break
                if not pieces and not (piece.startswith("\u2581") and piece.strip("\u2581").isalpha()):
                    return None
                pieces.append(piece)
                ids.append(token)
        return "".join(pieces).replace("\u2581", " ").strip()


def write_stories(out, seed, count, model_path):
    folder = os.path.join(out, "stories")
    os.makedirs(folder, exist_ok=True)
    model = GreedyModel(model_path)
    rng = np.random.default_rng(seed)
    seen, written, drawn = set(), 0, 0
    with open(os.path.join(folder, "items.jsonl"), "w") as f:
        while written < count and drawn < 50 * count:
            drawn += 1
            prompt = stories.make_prompt(rng)
            if prompt in seen:
                continue
            seen.add(prompt)
            word = model.next_word(prompt)
            if word is None:
                continue
            # Sentencepiece's LLaMA tokenizers add the word-start mark themselves: no leading space.
            row = {"id": "stories-{:04d}".format(written), "task": "stories", "prompt": prompt, "answer": word,
                   "target": word}
            f.write(json.dumps(row) + "\n")
            written += 1
    if written < count:
        sys.exit("only {} distinct story prompts have a word as greedy continuation (asked for {})".format(
            written, count))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=9001)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--task", choices=["heldout", "stories"], default="heldout",
                        help="heldout: shapes_vqa and facts_qa; stories: story prompts and MODEL's greedy next words")
    parser.add_argument("--model", help="the contract model (.pt) whose greedy next words --task stories explains")
    args = parser.parse_args()
    if args.task == "stories":
        if not args.model:
            parser.error("--task stories needs --model")
        write_stories(args.out, args.seed, args.count, args.model)
        print("wrote {} stories items to {}".format(args.count, args.out))
        return
    vocab = load_vocab()
    write_shapes(args.out, args.seed, args.count, args.image_size, vocab)
    write_facts(args.out, args.seed + 1, args.count, vocab)
    print("wrote {} shapes_vqa and {} facts_qa items to {}".format(args.count, args.count, args.out))


if __name__ == "__main__":
    main()
