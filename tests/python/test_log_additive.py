#!/usr/bin/python3
"""`atman explain --control log-additive` against reference_atman.py's
float64 AtMan with the hosted API's control (H + log f, written there from
the definition), on an image-text and a text-only test model: every
strategy (full recompute, target-only, prefix reuse), single-token and
conceptual suppression, and f = 0 (keys removed; a pass that removes BOS
leaves the first query row no key). Also: the JSON's params.control, the op
library's Explainer.explain(control="log-additive"), and the one-line
refusals (a model without forward_additive; --control with a baseline).

Usage (ctest runs it): test_log_additive.py --atman build/atman --library build/libatman_ops.so
        --models build/test_models --work-dir build/python_log_additive"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

from tests.python.check_log import Checks
from tests.python.float32_rounding import ce_scale, reorder_tolerance
from tests.python.scene_image import make_image
from tests.python import reference_atman

TOLERANCE = 1e-4
QUESTION = "Question: What color is the circle? Answer:"
FACTS = "Alice lives in Paris. Bob works as a baker. Question: Where does Alice live? Answer:"


def run(atman, *args):
    return subprocess.run([atman, *args], capture_output=True, text=True)


def explain(atman, work, label, args):
    out = os.path.join(work, label + ".json")
    proc = run(atman, "explain", "--json", out, "--quiet", "--batch-size", "4", *args)
    if proc.returncode:
        return None, proc.stderr.strip()
    with open(out) as f:
        return json.load(f), ""


def relevance(doc):
    return np.array([p["per_target"] for p in doc["positions"]])


def check_model(checks, atman, work, name, model, prompt, target, image):
    ref = reference_atman.Reference(model)
    for factor, kappa in ((0.1, "off"), (0.1, "0.6"), (0.0, "off")):
        want = reference_atman.explain(ref, prompt, target, image, factor, None if kappa == "off" else float(kappa),
                                       control="log-additive")
        r_want = np.array([p["per_target"] for p in want["positions"]])
        runs = {}
        for strategy in ("full-logits", "target-only", "prefix-reuse"):
            label = "%s_%s_%s_%s" % (name, factor, kappa, strategy)
            args = ["--model", model, "--prompt", prompt, "--target", target, "--control", "log-additive",
                    "--suppression-factor", str(factor), "--conceptual-threshold", kappa, "--strategy", strategy]
            got, err = explain(atman, work, label, args + (["--image", image] if image else []))
            what = "%s, f %s, kappa %s, %s" % (name, factor, kappa, strategy)
            if got is None:
                checks.check(what + ": explain --control log-additive", False, err)
                continue
            runs[strategy] = relevance(got)
            same = [p["index"] for p in got["positions"]] == [p["members"][0] for p in want["positions"]]
            err = float(np.abs(runs[strategy] - r_want).max() / np.abs(r_want).max()) if same else float("inf")
            checks.check(what + " vs float64", err <= TOLERANCE and got["params"]["control"] == "log-additive",
                         "max err %.2e of max|R| %.3f (control %s)" % (err, np.abs(r_want).max(),
                                                                      got["params"]["control"]))
        if len(runs) == 3:
            gap = max(float(np.abs(runs[s] - runs["full-logits"]).max()) for s in ("target-only", "prefix-reuse"))
            checks.check("%s, f %s, kappa %s: every strategy = full recompute" % (name, factor, kappa), gap <= 1e-5,
                         "max diff %.1e" % gap)


def check_ops(checks, library, atman, work, model, image):
    torch.ops.load_library(library)
    got, err = explain(atman, work, "ops_cli", ["--model", model, "--prompt", QUESTION, "--target", " red",
                                                "--image", image, "--control", "log-additive"])
    r = torch.classes.atman.Explainer(model).explain(QUESTION, " red", image_path=image, control="log-additive")
    diff = float(np.abs(r["per_target"].numpy() - relevance(got)).max()) if got else float("inf")
    # Two processes, each with its own threads and batch: float32 sums in another order (issue 28).
    tol = reorder_tolerance(ce_scale(got)) if got else 0.0
    checks.check("ops: Explainer.explain(control=\"log-additive\") = the command's", diff <= tol,
                 "max diff %.1e (tolerance %.1e) %s" % (diff, tol, err))
    try:
        torch.classes.atman.Explainer(model).explain(QUESTION, " red", control="additive")
        checks.check("ops: control \"additive\" refused", False, "no error")
    except RuntimeError as e:
        checks.check("ops: control \"additive\" refused", "control must be" in str(e), str(e).splitlines()[0])


def check_refusals(checks, atman, models):
    minimal = os.path.join(models, "minimal.pt")
    proc = run(atman, "explain", "--model", minimal, "--prompt", QUESTION, "--target", " red", "--control",
               "log-additive", "--quiet")
    want = ("atman: error: %s: model test-minimal has no method forward_additive(embeddings, attention_bias) "
            "(docs/optional_methods.md): the log-additive control needs it" % minimal)
    checks.check("minimal.pt: --control log-additive refused with one line",
                 proc.returncode == 1 and proc.stderr.strip() == want, proc.stderr.strip())
    text_only = os.path.join(models, "text_only.pt")
    proc = run(atman, "explain", "--model", text_only, "--prompt", FACTS, "--target", " Paris", "--control",
               "log-additive", "--method", "ixg", "--quiet")
    checks.check("--control log-additive --method ixg: usage error", proc.returncode == 2 and
                 "--control log-additive is how AtMan suppresses: it takes no --method ixg" in proc.stderr and
                 len(proc.stderr.strip().splitlines()) == 1, proc.stderr.strip())
    proc = run(atman, "explain", "--model", text_only, "--prompt", FACTS, "--target", " Paris", "--control",
               "additive", "--quiet")
    checks.check("--control additive: usage error naming the choices", proc.returncode == 2 and
                 "log-additive" in proc.stderr, proc.stderr.strip().splitlines()[0] if proc.stderr else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--library")
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.work_dir, exist_ok=True)
    image = make_image(args.work_dir)
    checks = Checks()
    image_text = os.path.join(args.models, "image_text.pt")
    check_model(checks, args.atman, args.work_dir, "image_text", image_text, QUESTION, " purple circle", image)
    check_model(checks, args.atman, args.work_dir, "text_only", os.path.join(args.models, "text_only.pt"), FACTS,
                " Paris", None)
    if args.library:
        check_ops(checks, args.library, args.atman, args.work_dir, image_text, image)
    check_refusals(checks, args.atman, args.models)
    if checks.failed:
        sys.exit("%d check(s) failed: %s" % (len(checks.failed), "; ".join(checks.failed)))
    print("all log-additive checks passed")


if __name__ == "__main__":
    main()
