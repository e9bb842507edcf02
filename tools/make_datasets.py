#!/usr/bin/python3
"""Writes held-out benchmark sets (docs/evaluation.md), deterministic from a seed.

Usage: tools/make_datasets.py --out data/heldout --seed 9001 --count 500 [--image-size 96]
Writes OUT/shapes_vqa/items.jsonl (+ images/, masks/) and OUT/facts_qa/items.jsonl.

Item fields (one JSON object per line):
  shapes_vqa: id, task, image, mask (paths relative to items.jsonl; mask is the
              asked object's pixel mask, 255 inside), question, answer, target
              (" " + answer), image_size, objects [{shape, color, box [y, x, side]}]
  facts_qa:   id, task, prompt (verbatim, "{context} Question: {question} Answer:"),
              context, question, answer, target, evidence_span [start, end) in
              prompt characters (the evidence sentence), facts [[name, relation, value]]
The training seeds (tools/train_tiny_magma.py) differ from every seed used here."""
import argparse
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchdata import facts, shapes  # noqa: E402
from benchdata.vocab import load_vocab  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=9001)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=96)
    args = parser.parse_args()
    vocab = load_vocab()
    write_shapes(args.out, args.seed, args.count, args.image_size, vocab)
    write_facts(args.out, args.seed + 1, args.count, vocab)
    print("wrote {} shapes_vqa and {} facts_qa items to {}".format(args.count, args.count, args.out))


if __name__ == "__main__":
    main()
