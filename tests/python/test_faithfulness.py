#!/usr/bin/python3
"""`atman eval --faithfulness` and `--method loo` against a float64
re-implementation of the network (reference_atman.Reference): for every row
of a small run on the image-text test model (one Shapes-VQA and one Facts-QA
item, methods atman and loo), the MoRF and LeRF curves of the row's map
(read from its example JSON) are recomputed here from the definition, under
both removal operators, and compared with the row's curves; LOO's map is
compared with a float64 leave-one-out. Nothing is shared with the C++ code:
orders, rounding, removal (tokens deleted, patches filled with the pixel
tensor's per-channel mean, modifier 0 in every layer) are written here.

Usage (ctest runs it): test_faithfulness.py --atman build/atman --models build/test_models
        --source-dir . --work-dir build/python_faithfulness"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

import torch

from tests.python import reference_atman

FRACTIONS = [0, 10, 50, 100]
TOLERANCE = 2e-4  # float32 passes against float64, in nats


def removed_log_prob(ref, prep, pixels, image_at, n_image, grid, removed, operator):
    """log p(target) summed, float64, with `removed` sequence positions taken away."""
    emb, rows = prep.emb, list(prep.pred_rows)
    with torch.no_grad():
        if operator == "attention":
            modifier = torch.ones(emb.shape[0], dtype=torch.float64)
            modifier[list(removed)] = 0.0
            logits = ref.logits(emb, modifier)
        else:
            patches = [p - image_at for p in removed if image_at <= p < image_at + n_image]
            if patches:
                filled = pixels.clone()
                mean = pixels.mean(dim=(1, 2))
                h, w = filled.shape[1:]
                for patch in patches:
                    r, c = divmod(patch, grid[1])
                    y0, y1 = r * h // grid[0], (r + 1) * h // grid[0]
                    x0, x1 = c * w // grid[1], (c + 1) * w // grid[1]
                    filled[:, y0:y1, x0:x1] = mean[:, None, None]
                emb = emb.clone()
                emb[image_at:image_at + n_image] = ref.embed_image(filled)
            text = [p for p in removed if not image_at <= p < image_at + n_image]
            keep = [p for p in range(emb.shape[0]) if p not in set(text)]
            emb = emb[keep]
            rows = [r - len(text) for r in rows]
            logits = ref.logits(emb, torch.ones(emb.shape[0], dtype=torch.float64))
        lp = torch.log_softmax(logits[rows], dim=-1)
        return float(lp[torch.arange(len(prep.target_ids)), torch.tensor(prep.target_ids)].sum())


def order(values, most_first):
    return sorted(range(len(values)), key=lambda i: (-values[i] if most_first else values[i], i))


def check_item(ref, example, image_path, row, loo_example):
    cfg = ref.config
    prep = reference_atman.prepare(ref, example["prompt"], example["target"], image_path)
    kinds = {p["index"]: p for p in example["positions"]}
    image = [i for i, p in sorted(kinds.items()) if p["kind"] == "image"]
    if image:
        scored = image
        pixels = reference_atman.load_pixels(image_path, cfg["image"])
    else:
        scored = [i for i, p in sorted(kinds.items()) if p["kind"] == "text" and p.get("token_id") != cfg["bos_id"]]
        pixels = None
    image_at = image[0] if image else 0
    grid = cfg["image"]["grid"] if image else None
    values = [kinds[i]["relevance"] for i in scored]
    n = len(scored)
    problems = []
    for operator in ("attention", "input"):
        got = row["faithfulness"][operator]
        for name, most_first in (("morf", True), ("lerf", False)):
            ranked = order(values, most_first)
            want = [removed_log_prob(ref, prep, pixels, image_at, len(image), grid,
                                     [scored[i] for i in ranked[:math.floor(p * n / 100 + 0.5)]], operator)
                    for p in FRACTIONS]
            err = max(abs(a - b) for a, b in zip(got[name], want))
            if err > TOLERANCE:
                problems.append("%s %s %s %s: curve %s, reference %s" % (row["item"], row["method"], operator, name,
                                                                        got[name], want))
        clean = removed_log_prob(ref, prep, pixels, image_at, len(image), grid, [], operator)
        if abs(got["clean"] - clean) > TOLERANCE:
            problems.append("%s %s %s: clean %r, reference %r" % (row["item"], row["method"], operator, got["clean"],
                                                                  clean))
        aopc_morf = sum(got["clean"] - v for v in got["morf"]) / len(FRACTIONS)
        aopc_lerf = sum(got["clean"] - v for v in got["lerf"]) / len(FRACTIONS)
        if abs(got["aopc_morf"] - aopc_morf) > 1e-9 or abs(got["aopc_lerf"] - aopc_lerf) > 1e-9 or \
                abs(got["abpc"] - (aopc_morf - aopc_lerf)) > 1e-9:
            problems.append("%s %s %s: areas do not follow from the curves" % (row["item"], row["method"], operator))
    if loo_example is not None:
        clean = removed_log_prob(ref, prep, pixels, image_at, len(image), grid, [], "input")
        loo = {i: clean - removed_log_prob(ref, prep, pixels, image_at, len(image), grid, [i], "input")
               for i in range(len(prep.emb)) if i < prep.pred_rows[0] + 1}
        got = {p["index"]: p["relevance"] for p in loo_example["positions"]}
        err = max(abs(got[i] - v) for i, v in loo.items())
        if err > TOLERANCE:
            problems.append("%s loo: max error %.3g against the float64 leave-one-out" % (row["item"], err))
        if any(got[i] != 0.0 for i in got if i not in loo):
            problems.append("%s loo: target positions are not 0" % row["item"])
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    data = os.path.join(args.work_dir, "data")
    subprocess.run([sys.executable, os.path.join(args.source_dir, "tools", "make_datasets.py"), "--out", data,
                    "--seed", "78", "--count", "1"], check=True, capture_output=True)
    model = os.path.join(args.models, "image_text.pt")
    out = os.path.join(args.work_dir, "run")
    proc = subprocess.run([args.atman, "eval", "--model", model, "--data", data, "--methods", "atman,loo",
                           "--faithfulness", "--faithfulness-fractions", ",".join(map(str, FRACTIONS)),
                           "--examples", "2", "--no-plots", "--quiet", "--out", out], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("atman eval failed: " + proc.stderr)
    ref = reference_atman.Reference(model)
    items = {}
    for task in ("shapes_vqa", "facts_qa"):
        with open(os.path.join(data, task, "items.jsonl")) as f:
            for line in f:
                item = json.loads(line)
                items[item["id"]] = os.path.join(data, task, item["image"]) if "image" in item else None
    problems, checked = [], 0
    with open(os.path.join(out, "rows.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        folder = os.path.join(out, "examples", row["task"])
        with open(os.path.join(folder, "%s.%s.json" % (row["item"], row["method"]))) as f:
            example = json.load(f)
        loo_example = example if row["method"] == "loo" else None
        if row["error"] or row.get("faithfulness") is None:
            problems.append("%s %s: no curves (%s)" % (row["item"], row["method"], row["error"]))
            continue
        if row["faithfulness"]["fractions"] != FRACTIONS:
            problems.append("fractions %s" % row["faithfulness"]["fractions"])
        problems += check_item(ref, example, items[row["item"]], row, loo_example)
        checked += 1
        if row["method"] == "loo" and abs(row["loo_spearman"] - 1.0) > 1e-12:
            problems.append("%s: loo's own Spearman with LOO is %r" % (row["item"], row["loo_spearman"]))
    print("checked the curves of %d rows (and LOO's maps) against the float64 reference" % checked)
    for p in problems:
        print("FAILED: " + p)
    sys.exit(1 if problems or checked != 4 else 0)


if __name__ == "__main__":
    main()
