#!/usr/bin/python3
"""End-to-end checks of imported models (docs/importing.md) with the real
`atman` binary: `atman explain` (JSON, and the overlay PNG for LLaVA),
`atman answer`, `atman eval` on a tiny set and `atman bench` accept the
models that tests/python/make_imported_models.py imported; the relevance of
`atman explain` agrees within 1e-4 (of the largest |R|) with
reference_atman.py's method driving the independent float64 network of
reference_llama.py (LLaMA with grouped-query attention, Mistral's sliding
window, LLaVA's CLIP tower with the image at {image} and a centre crop;
llava-interleave-qwen's SigLIP tower and Qwen2 text model, the image where
its chat template puts it, pictures resized as Pillow does, one smaller than
a patch), and
prefix reuse equals the full recompute; `atman generate` with the KV cache
gives the tokens of the full recompute (mistral.pt has its own head_dim);
torch.classes.atman.Explainer loads an imported model. The model-contract
extensions: `--control log-additive` against the reference's log-additive
control (prefix reuse = full recompute), `--method attnlrp` against
reference_attnlrp.py's rules and its conservation. Today's families
(llama3.pt, qwen2.pt, smol.pt: tokenizer.json and a chat template) are
explained with `--question`, the reference encoding the rendered template
with reference_tokenizer.py; their generation, answers and the op library
too.

Usage (ctest runs it): test_imported_models.py --atman build/atman
        --ops build/libatman_ops.so --models build/imported --work-dir DIR"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.check_log import Checks  # noqa: E402
from tests.python import reference_atman  # noqa: E402
from tests.python import reference_attnlrp  # noqa: E402
from tests.python.reference_llama import ReferenceLlama, ReferenceLlava  # noqa: E402
from tests.python.reference_tokenizer import ReferenceTokenizer  # noqa: E402

TOLERANCE = 1e-4
PROMPT = "the cat and the cat saw the dog near the old red house"
TARGET = " on the hill"
QUESTION = "Where did the cat and the dog see the old red house?"


class Float64Reference(reference_atman.Reference):
    """reference_atman's method over reference_llama's float64 network, with
    the imported model's own config and tokenizer (nothing from atman-cpp)."""

    def __init__(self, model_path, ref_path):
        import zipfile
        with zipfile.ZipFile(model_path) as z:  # the extra files the model carries
            extra = {n.split("/extra/", 1)[1]: z.read(n) for n in z.namelist() if "/extra/atman/" in n}
        self.config = json.loads(extra["atman/config.json"])
        if "atman/tokenizer.json" in extra:
            self.sp = ReferenceTokenizer(extra["atman/tokenizer.json"].decode("utf-8"))
        else:
            self.sp = spm.SentencePieceProcessor()
            self.sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])
        saved = torch.load(ref_path)
        if "vision_config" in saved["config"]:
            self.net = ReferenceLlava(saved["weights"], saved["config"])
        else:
            self.net = ReferenceLlama(saved["weights"], saved["config"])

    def embed_text(self, ids):
        return self.net.embed_text(ids)

    def embed_image(self, pixels):
        return self.net.embed_image(pixels)

    def logits(self, emb, modifier, control="multiplicative"):
        return self.net.logits(emb, modifier, control=control)


def atman(binary, *args):
    return subprocess.run([binary] + list(args), capture_output=True, text=True)


def explain_json(binary, work, label, args):
    out = os.path.join(work, label + ".json")
    proc = atman(binary, "explain", "--json", out, "--quiet", *args)
    if proc.returncode:
        return None, proc.stderr.strip()[:300]
    with open(out) as f:
        return json.load(f), ""


def relative_error(got, want):
    if [p["members"] for p in got["positions"]] != [p["members"] for p in want["positions"]]:
        return float("inf")
    r_got = np.array([p["per_target"] for p in got["positions"]])
    r_want = np.array([p["per_target"] for p in want["positions"]])
    return float(np.abs(r_got - r_want).max() / np.abs(r_want).max())


def check_agreement(checks, binary, models, work, name, image=None, prompt=PROMPT, kappas=("off", "0.6"),
                    question=None):
    """With `question`, atman gets --question (the model's template) and the
    reference the template filled in, encoded by its own tokenizer."""
    model = os.path.join(models, name + ".pt")
    ref = Float64Reference(model, os.path.join(models, name + ".ref.pt"))
    source = ["--prompt", prompt]
    if question is not None:
        source, prompt = ["--question", question], ref.config["prompt_template"].replace("{question}", question)
    worst = 0.0
    for kappa in kappas:
        runs = {}
        for strategy in ("prefix-reuse", "full-logits"):
            args = ["--model", model] + source + ["--target", TARGET, "--conceptual-threshold", kappa,
                    "--strategy", strategy, "--batch-size", "4"] + (["--image", image] if image else [])
            got, err = explain_json(binary, work, "%s_%s_%s" % (name, kappa, strategy), args)
            if got is None:
                checks.check("%s: atman explain --strategy %s" % (name, strategy), False, err)
                return
            runs[strategy] = got
        want = reference_atman.explain(ref, prompt, TARGET, image, 0.1, None if kappa == "off" else float(kappa))
        for strategy, got in runs.items():
            err = relative_error(got, want)
            worst = max(worst, err)
            checks.check("%s: explain (%s, kappa %s) vs float64 reference" % (name, strategy, kappa),
                         err <= TOLERANCE, "max err %.2e of max|R| %.3f, %d units (tolerance %.0e)"
                         % (err, np.abs([p["relevance"] for p in want["positions"]]).max(), len(want["positions"]),
                            TOLERANCE))
        err = relative_error(runs["prefix-reuse"], runs["full-logits"])
        checks.check("%s: prefix reuse = full recompute (kappa %s)" % (name, kappa), err <= 1e-5,
                     "max err %.2e" % err)
    return worst


def check_contract_extensions(checks, binary, models, work, name, image=None, prompt=PROMPT):
    """--control log-additive (prefix reuse and full recompute) against the
    float64 reference's log-additive control, f = 0 included; --method
    attnlrp against reference_attnlrp.py's rules on reference_llama.py's
    network, and its conservation."""
    model = os.path.join(models, name + ".pt")
    ref = Float64Reference(model, os.path.join(models, name + ".ref.pt"))
    extra = ["--image", image] if image else []
    for factor in ("0.1", "0"):
        want = reference_atman.explain(ref, prompt, TARGET, image, float(factor), None, control="log-additive")
        runs = {}
        for strategy in ("prefix-reuse", "full-logits"):
            got, err = explain_json(binary, work, "%s_additive_%s_%s" % (name, factor, strategy),
                                    ["--model", model, "--prompt", prompt, "--target", TARGET, "--control",
                                     "log-additive", "--suppression-factor", factor, "--conceptual-threshold", "off",
                                     "--strategy", strategy] + extra)
            if got is None:
                checks.check("%s: explain --control log-additive --strategy %s" % (name, strategy), False, err)
                return
            runs[strategy] = got
            err = relative_error(got, want)
            checks.check("%s: log-additive f %s (%s) vs float64 reference" % (name, factor, strategy),
                         err <= TOLERANCE, "max err %.2e" % err)
        err = relative_error(runs["prefix-reuse"], runs["full-logits"])
        checks.check("%s: log-additive f %s: prefix reuse = full recompute" % (name, factor), err <= 1e-5,
                     "max err %.2e" % err)
    got, err = explain_json(binary, work, name + "_attnlrp", ["--model", model, "--prompt", prompt, "--target",
                                                               TARGET, "--method", "attnlrp"] + extra)
    if got is None:
        checks.check("%s: explain --method attnlrp" % name, False, err)
        return
    net = ref.net.text if isinstance(ref.net, ReferenceLlava) else ref.net
    want = reference_attnlrp.explain(ref, prompt, TARGET, image, lrp=reference_attnlrp.LlamaAttnLrp(net))
    checks.check("%s: attnlrp vs AttnLRP's rules in float64" % name, relative_error(got, want) <= TOLERANCE,
                 "max err %.2e" % relative_error(got, want))
    logits, absorbed = np.array(want["logits"]), np.array(want["bias"]) + np.array(want["softmax"])
    sums = np.array([p["per_target"] for p in got["positions"]]).sum(0)
    err = float(np.abs(sums - (logits - absorbed)).max() / np.abs(logits).max())
    checks.check("%s: attnlrp conserves: sum of R = logit - bias - softmax" % name, err <= TOLERANCE and
                 abs(got["params"]["explained_logit"] - logits.sum()) <= 1e-4 * np.abs(logits).max(),
                 "err %.1e, explained_logit %.5f vs %.5f" % (err, got["params"]["explained_logit"], logits.sum()))


def check_llava_outputs(checks, binary, models, work, image):
    """The image stands at {image}: patches in sequence order after "USER:",
    [row, col] from the image's first position; the overlay keeps the
    original's resolution (strips beside and below it)."""
    model = os.path.join(models, "llava.pt")
    overlay = os.path.join(work, "llava_overlay.png")
    got, err = explain_json(binary, work, "llava_question", ["--model", model, "--image", image, "--question",
                                                              "What is it?", "--target", " a cat",
                                                              "--overlay", overlay])
    if got is None:
        checks.check("llava: explain --question with --overlay", False, err)
        return
    kinds = [p["kind"] for p in got["positions"]]
    first = kinds.index("image")
    images = [p for p in got["positions"] if p["kind"] == "image"]
    ok = (0 < first and len(images) == 16 and kinds[first:first + 16] == ["image"] * 16
          and [p["patch"] for p in images] == [[r, c] for r in range(4) for c in range(4)]
          and images[0]["index"] == got["positions"][first - 1]["index"] + 1)
    checks.check("llava: JSON places the 16 patches at {image}, in sequence order", ok,
                 "first image position %d of %d units" % (images[0]["index"], len(kinds)))
    png = cv2.imread(overlay)
    original = cv2.imread(image)
    # The image at its own resolution, the colour bar and caption strips beside and below it.
    checks.check("llava: overlay PNG over the original image",
                 png is not None and png.shape[0] >= original.shape[0] and png.shape[1] >= original.shape[1],
                 str(None if png is None else png.shape))


def check_answer(checks, binary, models, image):
    for name, extra in (("llama_gqa", []), ("mistral", []), ("llava", ["--image", image]), ("llama3", []),
                        ("qwen2", [])):
        proc = atman(binary, "answer", "--model", os.path.join(models, name + ".pt"), "--prompt",
                     "USER: {image}\nthe cat saw ASSISTANT:" if extra else "the cat saw", "--max-tokens", "5",
                     *extra)
        checks.check("%s: atman answer" % name, proc.returncode == 0, repr(proc.stdout.strip()[:60])
                     if proc.returncode == 0 else proc.stderr.strip()[:200])
    proc = atman(binary, "answer", "--model", os.path.join(models, "llava_qwen.pt"), "--question", "What is it?",
                 "--image", image, "--max-tokens", "5")
    checks.check("llava_qwen: atman answer --question --image", proc.returncode == 0,
                 repr(proc.stdout.strip()[:60]) if proc.returncode == 0 else proc.stderr.strip()[:200])


def check_generate(checks, binary, models, work):
    """`atman generate` with the KV cache (step_from_cache, the C++ side's empty
    cache of head_dim width) gives the tokens of the full recompute, with and
    without steering; mistral.pt has its own head_dim."""
    for name in ("llama_gqa", "mistral", "llama3", "qwen2"):
        runs = {}
        for label, extra in (("cache", []), ("recompute", ["--recompute"])):
            out = os.path.join(work, "generate_%s_%s.json" % (name, label))
            proc = atman(binary, "generate", "--model", os.path.join(models, name + ".pt"), "--prompt", PROMPT,
                         "--suppress", "cat", "--max-tokens", "8", "--json", out, *extra)
            if proc.returncode != 0:
                checks.check("%s: atman generate (%s)" % (name, label), False, proc.stderr.strip()[:200])
                break
            runs[label] = json.load(open(out))
        if len(runs) < 2:
            continue
        ok = (runs["cache"]["params"]["decode_path"] == "kv-cache"
              and runs["cache"]["steered"]["ids"] == runs["recompute"]["steered"]["ids"]
              and runs["cache"]["unsteered"]["ids"] == runs["recompute"]["unsteered"]["ids"])
        checks.check("%s: generate with the KV cache = full recompute" % name, ok,
                     "%s vs %s" % (runs["cache"]["steered"]["ids"], runs["recompute"]["steered"]["ids"]))


def write_eval_sets(work, image):
    """A tiny image set (one item, a mask over the left half) and a tiny text set."""
    root = os.path.join(work, "evalsets")
    for sub in ("images_set", "text_set"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    img = cv2.imread(image)
    mask = np.zeros(img.shape[:2], np.uint8)
    mask[:, : img.shape[1] // 2] = 255
    cv2.imwrite(os.path.join(root, "images_set", "mask.png"), mask)
    cv2.imwrite(os.path.join(root, "images_set", "image.png"), img)
    with open(os.path.join(root, "images_set", "items.jsonl"), "w") as f:
        f.write(json.dumps({"id": "img-0", "task": "shapes_vqa", "image": "image.png", "mask": "mask.png",
                            "question": "What color is the circle?", "target": " red"}) + "\n")
    context = "Alice lives in Paris. Bob likes tea."
    with open(os.path.join(root, "text_set", "items.jsonl"), "w") as f:
        f.write(json.dumps({"id": "txt-0", "task": "facts_qa", "prompt": context + " Question: Where does Alice "
                            "live? Answer:", "target": " Paris", "evidence_span": [0, 21]}) + "\n")
    return root


def check_eval(checks, binary, models, work, image):
    sets = write_eval_sets(work, image)
    # qwen2: a tokenizer.json model (its evidence spans come from the byte offsets of its byte-level BPE).
    for name, data in (("llava", os.path.join(sets, "images_set")), ("llava_qwen", os.path.join(sets, "images_set")),
                       ("llama_gqa", os.path.join(sets, "text_set")),
                       ("qwen2", os.path.join(sets, "text_set"))):
        out = os.path.join(work, "eval_" + name)
        shutil.rmtree(out, ignore_errors=True)  # a rerun imports the models anew: no stale rows
        proc = atman(binary, "eval", "--model", os.path.join(models, name + ".pt"), "--data", data, "--methods",
                     "atman,ixg", "--out", out, "--no-plots", "--quiet", "--threads", "1")
        detail = proc.stderr.strip()[:200]
        ok = proc.returncode == 0 and os.path.isdir(out)
        if ok:  # every row found its ground truth (the evidence sentence's tokens, or the mask's patches)
            rows = [json.loads(line) for line in open(os.path.join(out, "rows.jsonl"))]
            ok = bool(rows) and all(0 < r["truth_positions"] < r["positions"] for r in rows)
            detail = "%d rows, truth positions %s" % (len(rows), sorted({r["truth_positions"] for r in rows}))
        checks.check("%s: atman eval on a tiny set" % name, ok, detail)


def check_bench(checks, binary, models):
    started = time.time()
    proc = atman(binary, "bench", "--model", os.path.join(models, "llama_gqa.pt"), "--prompt", PROMPT, "--target",
                 TARGET, "--threads", "1", "--repeat", "1", "--skip-bf16")
    ok = proc.returncode == 0 and "reuse" in proc.stdout
    checks.check("llama_gqa: atman bench", ok, "%.0f s" % (time.time() - started) if ok
                 else (proc.stderr.strip() or proc.stdout.strip())[-300:])


def check_op_library(checks, ops, models, image):
    torch.ops.load_library(ops)
    explainer = torch.classes.atman.Explainer(os.path.join(models, "llava.pt"))
    config = json.loads(explainer.config())
    out = explainer.explain("USER: {image}\nWhat is it? ASSISTANT:", " a cat", image, 0.1, None)
    kinds = out["kind"].tolist()
    ok = (config["num_kv_heads"] == 2 and config["image"]["resize"] == "center_crop"
          and kinds.count(0) == 16 and kinds[0] != 0 and torch.isfinite(out["relevance"]).all())
    checks.check("llava: torch.classes.atman.Explainer loads and explains it", bool(ok),
                 "num_kv_heads %s, resize %s, %d units" % (config.get("num_kv_heads"),
                                                            config["image"].get("resize"), len(kinds)))
    explainer = torch.classes.atman.Explainer(os.path.join(models, "llava_qwen.pt"))
    config = json.loads(explainer.config())
    out = explainer.explain(config["prompt_template"].replace("{question}", "What is it?"), "red", image, 0.1, None)
    kinds = out["kind"].tolist()
    ok = (config["image"]["resample"] == "pil_bicubic" and kinds.count(0) == 16 and kinds[0] != 0
          and torch.isfinite(out["relevance"]).all())
    checks.check("llava_qwen: the op library explains it (SigLIP, Pillow's bicubic, {image} in the user turn)",
                 bool(ok), "resample %s, %d units" % (config["image"].get("resample"), len(kinds)))
    explainer = torch.classes.atman.Explainer(os.path.join(models, "qwen2.pt"))
    config = json.loads(explainer.config())
    out = explainer.explain(config["prompt_template"].replace("{question}", QUESTION), TARGET)
    checks.check("qwen2 (tokenizer.json, chat template): the op library explains it",
                 bool(torch.isfinite(out["relevance"]).all()) and len(out["relevance"]) > 20,
                 "%d units" % len(out["relevance"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--ops", help="libatman_ops.so (not given: the op library is not checked)")
    parser.add_argument("--models", required=True, help="the folder make_imported_models.py wrote")
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.time()
    os.makedirs(args.work_dir, exist_ok=True)
    image = os.path.join(args.work_dir, "wide.png")  # 24 x 20: the centre crop cuts columns
    rng = np.random.default_rng(5)
    picture = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
    cv2.circle(picture, (8, 10), 5, (40, 40, 220), -1)
    cv2.imwrite(image, picture)
    tiny = os.path.join(args.work_dir, "tiny.png")  # 3 x 2: smaller than one patch of the tower
    cv2.imwrite(tiny, rng.integers(0, 255, (2, 3, 3), dtype=np.uint8))
    checks = Checks()
    worst = [check_agreement(checks, args.atman, args.models, args.work_dir, "llama_gqa"),
             check_agreement(checks, args.atman, args.models, args.work_dir, "mistral", kappas=("off",)),
             check_agreement(checks, args.atman, args.models, args.work_dir, "llava", image=image,
                             prompt="USER: {image}\nWhat is the cat near? ASSISTANT:")]
    for name, kappas in (("llama3", ("off", "0.6")), ("qwen2", ("off",)), ("smol", ("off",))):
        worst.append(check_agreement(checks, args.atman, args.models, args.work_dir, name, kappas=kappas,
                                     question=QUESTION))
    # llava-interleave-qwen's layout: SigLIP + Qwen2, the chat template's {image}, Pillow's bicubic
    # (reducing the 24 x 20 picture; enlarging a 3 x 2 one, smaller than a 4 x 4 patch).
    worst.append(check_agreement(checks, args.atman, args.models, args.work_dir, "llava_qwen", image=image,
                                 question=QUESTION))
    worst.append(check_agreement(checks, args.atman, args.models, args.work_dir, "llava_qwen", image=tiny,
                                 question=QUESTION, kappas=("off",)))
    print("worst relative error vs the float64 reference: %s" % ", ".join("%.2e" % w for w in worst if w is not None))
    check_contract_extensions(checks, args.atman, args.models, args.work_dir, "llama_gqa")
    check_contract_extensions(checks, args.atman, args.models, args.work_dir, "mistral")
    for name in ("llama3", "qwen2"):
        check_contract_extensions(checks, args.atman, args.models, args.work_dir, name)
    check_contract_extensions(checks, args.atman, args.models, args.work_dir, "llava", image=image,
                              prompt="USER: {image}\nWhat is the cat near? ASSISTANT:")
    check_llava_outputs(checks, args.atman, args.models, args.work_dir, image)
    check_answer(checks, args.atman, args.models, image)
    check_generate(checks, args.atman, args.models, args.work_dir)
    check_eval(checks, args.atman, args.models, args.work_dir, image)
    check_bench(checks, args.atman, args.models)
    if args.ops:
        check_op_library(checks, args.ops, args.models, image)
    print("%d failed, %.0f s" % (len(checks.failed), time.time() - started))
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
