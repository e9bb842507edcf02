#!/usr/bin/python3
"""Runs the real `atman explain --method ixg|ig|rollout|chefer` and checks its
JSON against the independent float64 PyTorch implementations in
reference_baselines.py: every R[i, t] and R[i] within 1e-4 of the largest
|R[i, t]|, and the target's log-probabilities (ce = -log p) within 1e-4, on
an image-text and a text-only test model, one- and two-token targets, and two
IG batch sizes. Also checks that rollout and chefer on a model without
forward_with_attentions fail with one clear line while ixg works there.

Usage (ctest runs it): test_baseline_agreement.py --atman build/atman
        --models build/test_models --work-dir build/python_baselines"""
import argparse
import json
import os
import subprocess
import sys

import cv2
import numpy as np

from tests.python import reference_baselines

TOLERANCE = 1e-4
FACTS = ("Alice lives in Paris. Bob works as a baker. Carol likes apples. "
         "Question: Where does Alice live? Answer:")


def make_image(work):
    rng = np.random.default_rng(11)
    img = np.full((96, 96, 3), 128, np.uint8) + rng.integers(0, 6, (96, 96, 3), dtype=np.uint8)
    cv2.circle(img, (30, 35), 14, (40, 40, 220), -1)
    cv2.rectangle(img, (55, 55), (85, 85), (60, 180, 40), -1)
    path = os.path.join(work, "scene.png")
    cv2.imwrite(path, img)
    return path


def cases(models, image):
    it, to = os.path.join(models, "image_text.pt"), os.path.join(models, "text_only.pt")
    question = "Question: What color is the circle? Answer:"
    out = []
    for method in ("ixg", "ig", "rollout", "chefer"):
        out.append(dict(model=it, image=image, prompt=question, target=" red", method=method))
        out.append(dict(model=to, image=None, prompt=FACTS, target=" Paris. Yes", method=method))
    out.append(dict(model=it, image=image, prompt=question, target=" purple circle", method="ig",
                    extra=["--ig-steps", "7", "--batch-size", "3"]))
    out.append(dict(model=to, image=None, prompt=FACTS, target=" Paris", method="ig",
                    extra=["--ig-steps", "5", "--batch-size", "1"]))
    return out


def run_case(atman, work, n, case):
    out_json = os.path.join(work, "case%d.json" % n)
    cmd = [atman, "explain", "--model", case["model"], "--prompt", case["prompt"], "--target", case["target"],
           "--method", case["method"], "--json", out_json, "--quiet"] + case.get("extra", [])
    if case["image"]:
        cmd += ["--image", case["image"]]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "atman exited %d: %s" % (proc.returncode, proc.stderr.strip())
    with open(out_json) as f:
        got = json.load(f)
    extra = case.get("extra", [])
    steps = int(extra[extra.index("--ig-steps") + 1]) if "--ig-steps" in extra else 32
    want = reference_baselines.explain(case["model"], case["prompt"], case["target"], case["method"],
                                       case["image"], steps)
    if got.get("method") != case["method"]:
        return None, "JSON method is %r" % got.get("method")
    if [p["index"] for p in got["positions"]] != list(range(want["sequence_length"])):
        return None, "explained positions differ from 0..S-1"
    t_got = np.array([p["per_target"] for p in got["positions"]])
    t_want = np.array(want["per_target"])
    r_got = np.array([p["relevance"] for p in got["positions"]])
    r_want = t_want.sum(1)
    scale = np.abs(t_want).max()
    ce_err = max(abs(a["ce"] + b) for a, b in zip(got["targets"], want["log_probs"]))
    return dict(per_target=float(np.abs(t_got - t_want).max() / scale),
                rel=float(np.abs(r_got - r_want).max() / max(np.abs(r_want).max(), 1e-300)),
                ce=float(ce_err), scale=float(scale), length=want["sequence_length"],
                targets=t_want.shape[1]), None


def check_refusals(atman, models, image):
    minimal = os.path.join(models, "minimal.pt")
    problems = []
    for method in ("rollout", "chefer"):
        proc = subprocess.run([atman, "explain", "--model", minimal, "--image", image, "--question", "What?",
                               "--target", " red", "--method", method, "--quiet"], capture_output=True, text=True)
        lines = proc.stderr.strip().splitlines()
        if proc.returncode != 1 or len(lines) != 1 or "forward_with_attentions" not in lines[0] \
                or method not in lines[0]:
            problems.append("%s on minimal.pt: exit %d, stderr %r" % (method, proc.returncode, proc.stderr))
    proc = subprocess.run([atman, "explain", "--model", minimal, "--image", image, "--question", "What?",
                           "--target", " red", "--method", "ixg", "--quiet"], capture_output=True, text=True)
    if proc.returncode != 0:
        problems.append("ixg on minimal.pt failed: %s" % proc.stderr.strip())
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    image = make_image(args.work_dir)
    passed = failed = 0
    worst = 0.0
    print("%-14s %-8s %-16s %4s %2s %10s %10s %9s %9s %s" % ("model", "method", "target", "S", "T", "err_t",
                                                            "err_R", "ce.err", "max|R|", "extra"))
    for n, case in enumerate(cases(args.models, image)):
        figures, problem = run_case(args.atman, args.work_dir, n, case)
        label = (os.path.basename(case["model"]), case["method"], repr(case["target"]))
        if problem:
            failed += 1
            print("%-14s %-8s %-16s FAILED: %s" % (label + (problem,)))
            continue
        ok = figures["per_target"] < TOLERANCE and figures["rel"] < TOLERANCE and figures["ce"] < TOLERANCE
        passed += ok
        failed += not ok
        worst = max(worst, figures["per_target"], figures["rel"])
        print("%-14s %-8s %-16s %4d %2d %10.2e %10.2e %9.2e %9.2e %s%s" % (
            label + (figures["length"], figures["targets"], figures["per_target"], figures["rel"], figures["ce"],
                     figures["scale"], " ".join(case.get("extra", [])), "" if ok else "  <-- above %g" % TOLERANCE)))
    for problem in check_refusals(args.atman, args.models, image):
        failed += 1
        print("FAILED: " + problem)
    print("worst relative error: %.3e (tolerance %g)" % (worst, TOLERANCE))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
