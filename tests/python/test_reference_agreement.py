#!/usr/bin/python3
"""Runs the real `atman explain` binary and checks its JSON against the
independent PyTorch implementation in reference_atman.py: the same explained
units (indices, members, kinds) and relevance within 1e-4 of the largest
|relevance| (R[i] and every R[i, t]), on an image-text and a text-only model,
conceptual suppression on and off, token, word and sentence granularity, and
both pass strategies, and a model whose template places the image inside the
prompt ({image}) with image.resize center_crop.

Usage (ctest runs it): test_reference_agreement.py --atman build/atman
        --models build/test_models --work-dir build/python_reference"""
import argparse
import json
import os
import subprocess
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python import reference_atman  # noqa: E402

TOLERANCE = 1e-4

FACTS = ("Alice lives in Paris. Bob works as a baker. Carol likes apples. "
         "Question: Where does Alice live? Answer:")


def make_images(work):
    rng = np.random.default_rng(7)
    shrink = np.full((120, 150, 3), 120, np.uint8) + rng.integers(0, 8, (120, 150, 3), dtype=np.uint8)
    cv2.circle(shrink, (45, 50), 22, (40, 40, 220), -1)  # BGR: red
    cv2.rectangle(shrink, (90, 60), (135, 105), (60, 180, 40), -1)
    enlarge = np.full((64, 64, 3), 150, np.uint8)
    cv2.rectangle(enlarge, (10, 10), (30, 30), (220, 80, 40), -1)
    paths = {"shrink": os.path.join(work, "shrink.png"), "enlarge": os.path.join(work, "enlarge.png")}
    cv2.imwrite(paths["shrink"], shrink)
    cv2.imwrite(paths["enlarge"], enlarge)
    return paths


def make_unseen_model(work):
    """A contract model no other test uses: other widths, depth and heads, a
    non-square image of 48x64 px (grid 6x8), its own normalisation, no BOS,
    another prompt template."""
    import sentencepiece as spm
    from torchscript_models.export import save_contract_model
    from torchscript_models.make_test_models import randomize
    from torchscript_models.tiny_magma import TinyMagma
    tokenizer = os.path.join(os.path.dirname(reference_atman.__file__), "..", "..", "torchscript_models",
                             "tokenizer.model")
    vocab = spm.SentencePieceProcessor(model_file=tokenizer).get_piece_size()
    model = randomize(TinyMagma(vocab, width=48, layers=3, heads=6, mlp_width=96, adapter_width=12,
                                max_positions=128), seed=11)
    config = {"contract": 1, "name": "unseen", "vocab_size": vocab, "hidden_size": 48, "num_layers": 3,
              "num_heads": 6, "max_positions": 128, "add_bos": False, "bos_id": 1,
              "image": {"size": [48, 64], "grid": [6, 8], "mean": [0.4, 0.45, 0.5], "std": [0.2, 0.25, 0.3]},
              "prompt_template": "<image> Q: {question} A:"}
    path = os.path.join(work, "unseen.pt")
    save_contract_model(model, config, tokenizer, path)
    return path


def cases(models, images):
    it, to, mini = (os.path.join(models, n) for n in ("image_text.pt", "text_only.pt", "minimal.pt"))
    question = "Question: What color is the circle? Answer:"
    out = []
    for kappa in ("0.6", "off"):
        for granularity in ("token", "word"):
            out.append(dict(model=it, image=images["shrink"], prompt=question, target=" red",
                            kappa=kappa, granularity=granularity))
            out.append(dict(model=to, image=None, prompt=FACTS, target=" Paris",
                            kappa=kappa, granularity=granularity))
    out += [
        dict(model=it, image=images["enlarge"], prompt=question, target=" purple circle", kappa="0.6",
             granularity="word", extra=["--strategy", "full-logits", "--batch-size", "7"]),
        dict(model=it, image=None, prompt="What shape is the green object?", target=" a square", kappa="0.3",
             granularity="token", extra=["--suppression-factor", "0.25"]),
        dict(model=to, image=None, prompt=FACTS, target=" Paris. Yes", kappa="0.6", granularity="sentence"),
        dict(model=mini, image=images["shrink"], prompt=question, target=" blue", kappa="0.6",
             granularity="token", extra=["--threads", "1"]),
    ]
    # {image} inside the prompt and image.resize center_crop (docs/contract.md):
    # the non-square images are cropped; the sequence is text, image, text.
    middle = os.path.join(models, "image_middle.pt")
    llava = "USER: {image}\nWhat color is the circle? ASSISTANT:"
    out += [
        dict(model=middle, image=images["shrink"], prompt=llava, target=" red circle", kappa="0.6",
             granularity="word"),
        dict(model=middle, image=images["shrink"], prompt=llava, target=" red circle", kappa="off",
             granularity="token", extra=["--strategy", "full-logits"]),
        dict(model=middle, image=images["enlarge"], prompt="{image} What is it?", target=" a square", kappa="off",
             granularity="token", extra=["--strategy", "prefix-reuse", "--batch-size", "5"]),
        dict(model=middle, image=None, prompt=llava, target=" red", kappa="0.6", granularity="word"),
    ]
    unseen = make_unseen_model(os.path.dirname(images["shrink"]))
    out += [
        dict(model=unseen, image=images["shrink"], prompt="<image> Q: Which colour is the circle? A:",
             target=" red circle", kappa="0.6", granularity="token"),
        dict(model=unseen, image=images["enlarge"], prompt="<image> Q: Which colour is the square? A:",
             target=" blue", kappa="off", granularity="word"),
    ]
    return out


def run_case(atman, work, n, case):
    out_json = os.path.join(work, "case%d.json" % n)
    cmd = [atman, "explain", "--model", case["model"], "--prompt", case["prompt"], "--target", case["target"],
           "--conceptual-threshold", case["kappa"], "--granularity", case["granularity"], "--json", out_json,
           "--quiet"] + case.get("extra", [])
    if case["image"]:
        cmd += ["--image", case["image"]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "atman exited %d: %s" % (proc.returncode, proc.stderr.strip())
    with open(out_json) as f:
        got = json.load(f)
    factor = 0.1
    extra = case.get("extra", [])
    if "--suppression-factor" in extra:
        factor = float(extra[extra.index("--suppression-factor") + 1])
    kappa = None if case["kappa"] == "off" else float(case["kappa"])
    want = reference_atman.explain(case["model"], case["prompt"], case["target"], case["image"], factor, kappa,
                                   case["granularity"])
    problems = []
    if [p["index"] for p in got["positions"]] != [p["index"] for p in want["positions"]]:
        problems.append("explained positions differ")
    if [p["members"] for p in got["positions"]] != [p["members"] for p in want["positions"]]:
        problems.append("group members differ")
    if [t["id"] for t in got["targets"]] != [t["id"] for t in want["targets"]]:
        problems.append("target ids differ")
    image_units = [p for p in got["positions"] if p["kind"] == "image"]
    if image_units:  # patches in sequence order, [row, col] counted from the image's first position
        cols = got["image_grid"][1]
        first = image_units[0]["index"]
        if [p["patch"] for p in image_units] != [list(divmod(p["index"] - first, cols)) for p in image_units]:
            problems.append("image patches [row, col] differ from their sequence positions")
    if problems:
        return None, "; ".join(problems)
    r_got = np.array([p["relevance"] for p in got["positions"]])
    r_want = np.array([p["relevance"] for p in want["positions"]])
    t_got = np.array([p["per_target"] for p in got["positions"]])
    t_want = np.array([p["per_target"] for p in want["positions"]])
    scale = np.abs(r_want).max()
    scale_t = np.abs(t_want).max()
    ce_err = max(abs(a["ce"] - b["ce"]) for a, b in zip(got["targets"], want["targets"]))
    figures = dict(rel=float(np.abs(r_got - r_want).max() / scale),
                   per_target=float(np.abs(t_got - t_want).max() / scale_t),
                   ce=float(ce_err), max_abs=float(scale), units=len(r_got),
                   length=want["sequence_length"], targets=t_want.shape[1],
                   top_same=bool(np.argmax(r_got) == np.argmax(r_want)))
    return figures, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    images = make_images(args.work_dir)
    passed = failed = 0
    worst = 0.0
    print("%-14s %-7s %-5s %-8s %4s %4s %2s %10s %10s %9s %s" % (
        "model", "image", "kappa", "groups", "S", "N", "T", "rel.err", "rel.err_t", "ce.err", "extra"))
    for n, case in enumerate(cases(args.models, images)):
        figures, problem = run_case(args.atman, args.work_dir, n, case)
        label = (os.path.basename(case["model"]),
                 os.path.splitext(os.path.basename(case["image"]))[0] if case["image"] else "-",
                 case["kappa"], case["granularity"])
        if problem:
            failed += 1
            print("%-14s %-7s %-5s %-8s FAILED: %s" % (label + (problem,)))
            continue
        ok = figures["rel"] < TOLERANCE and figures["per_target"] < TOLERANCE and figures["ce"] < TOLERANCE
        passed += ok
        failed += not ok
        worst = max(worst, figures["rel"], figures["per_target"])
        print("%-14s %-7s %-5s %-8s %4d %4d %2d %10.2e %10.2e %9.2e %s%s" % (
            label + (figures["length"], figures["units"], figures["targets"], figures["rel"],
                     figures["per_target"], figures["ce"], " ".join(case.get("extra", [])),
                     "" if ok else "  <-- above %g" % TOLERANCE)))
    print("worst relative error (vs the largest |R|): %.3e (tolerance %g)" % (worst, TOLERANCE))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
