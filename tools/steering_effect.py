#!/usr/bin/python3
"""How often does suppressing the asked object's patches change the answer?
(docs/steering.md, "Effect on Shapes-VQA").

For every Shapes-VQA item ("What color is the <shape>?", "What shape is the
<colour> object?") the model answers three times through
torch.classes.atman.Explainer.generate (greedy, the KV cache):

- unsteered;
- with the asked object's patches suppressed: the patch rectangle
  image:r0,c0,r1,c1 that covers its bounding box;
- control: a rectangle of the same patch size on a random other object of the
  image (centred on it, moved inside the grid), seeded per item.

It counts the answers that change, and the changed answers that name another
object of the image (its colour or its shape).

Usage: tools/steering_effect.py --library build/libatman_ops.so --model torchscript_models/tiny_magma.pt
           --data data/heldout/shapes_vqa [--limit N] [--factor 0.1] [--seed 0] [--json out.json]"""
import argparse
import json
import os
import random
import sys

import torch


def asked_object(item):
    words = item["question"].rstrip("?").split()
    if item["question"].startswith("What color is the"):
        shape = words[-1]
        matches = [o for o in item["objects"] if o["shape"] == shape]
        return matches[0] if matches else None, "color"
    if item["question"].startswith("What shape is the"):
        colour = words[-2]
        matches = [o for o in item["objects"] if o["color"] == colour]
        return matches[0] if matches else None, "shape"
    return None, None


def patch_box(obj, image_size, rows, cols):
    """(r0, c0, r1, c1), inclusive, of the patches the box [x, y, side] touches."""
    x, y, side = obj["box"]
    ph, pw = image_size / rows, image_size / cols
    r0, c0 = int(y // ph), int(x // pw)
    r1, c1 = int(min((y + side - 1) // ph, rows - 1)), int(min((x + side - 1) // pw, cols - 1))
    return r0, c0, r1, c1


def same_size_box(obj, height, width, image_size, rows, cols):
    """A height x width patch rectangle centred on obj, moved inside the grid."""
    x, y, side = obj["box"]
    cr, cc = (y + side / 2) / (image_size / rows), (x + side / 2) / (image_size / cols)
    r0 = int(round(cr - height / 2))
    c0 = int(round(cc - width / 2))
    r0 = max(0, min(r0, rows - height))
    c0 = max(0, min(c0, cols - width))
    return r0, c0, r0 + height - 1, c0 + width - 1


def span(box):
    return "image:%d,%d,%d,%d" % box


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="folder with items.jsonl (Shapes-VQA)")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--factor", type=float, default=0.1, help="suppression factor in [0, 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.ops.load_library(args.library)
    explainer = torch.classes.atman.Explainer(args.model)
    config = json.loads(explainer.config())
    rows, cols = config["image"]["grid"]
    template = config["prompt_template"]

    items = [json.loads(line) for line in open(os.path.join(args.data, "items.jsonl"))]
    if args.limit:
        items = items[: args.limit]
    counts = {"items": 0, "skipped": 0, "unsteered_correct": 0, "asked_changed": 0, "asked_to_other_object": 0,
              "control_changed": 0, "control_to_other_object": 0}
    examples = []
    for n, item in enumerate(items):
        obj, attribute = asked_object(item)
        others = [o for o in item["objects"] if o is not obj]
        if obj is None or not others:
            counts["skipped"] += 1
            continue
        rng = random.Random(args.seed * 1000003 + n)
        other = rng.choice(others)
        size = item["image_size"]
        asked_box = patch_box(obj, size, rows, cols)
        control_box = same_size_box(other, asked_box[2] - asked_box[0] + 1, asked_box[3] - asked_box[1] + 1,
                                    size, rows, cols)
        prompt = template.replace("{question}", item["question"])
        image = os.path.join(args.data, item["image"])
        asked = explainer.generate(prompt, image, [span(asked_box)], [], args.factor, 2.0, None, args.max_tokens)
        control = explainer.generate(prompt, image, [span(control_box)], [], args.factor, 2.0, None,
                                     args.max_tokens)
        plain = asked[2]
        other_values = {o[attribute] for o in others}
        counts["items"] += 1
        counts["unsteered_correct"] += plain == item["answer"]
        counts["asked_changed"] += asked[0] != plain
        counts["asked_to_other_object"] += asked[0] != plain and asked[0] in other_values
        counts["control_changed"] += control[0] != plain
        counts["control_to_other_object"] += control[0] != plain and control[0] in other_values
        if asked[0] != plain and len(examples) < 10:
            examples.append({"id": item["id"], "question": item["question"], "unsteered": plain,
                             "suppressed": span(asked_box), "steered": asked[0],
                             "control": span(control_box), "control_steered": control[0]})
        if (n + 1) % 25 == 0:
            print("%d items: asked changed %d, control changed %d" % (
                n + 1, counts["asked_changed"], counts["control_changed"]), file=sys.stderr, flush=True)
    total = max(counts["items"], 1)
    print("model %s, factor %g, %d items (%d skipped)" % (config["name"], args.factor, counts["items"],
                                                           counts["skipped"]))
    print("unsteered answers correct:                   %4d (%.1f%%)" % (counts["unsteered_correct"],
                                                                         100.0 * counts["unsteered_correct"] / total))
    print("asked object suppressed:  answer changed     %4d (%.1f%%), to another object's %s: %d" % (
        counts["asked_changed"], 100.0 * counts["asked_changed"] / total, "value", counts["asked_to_other_object"]))
    print("other object suppressed:  answer changed     %4d (%.1f%%), to another object's %s: %d" % (
        counts["control_changed"], 100.0 * counts["control_changed"] / total, "value",
        counts["control_to_other_object"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": config["name"], "factor": args.factor, "seed": args.seed, "counts": counts,
                       "examples": examples}, f, indent=1)


if __name__ == "__main__":
    main()
