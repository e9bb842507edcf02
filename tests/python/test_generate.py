#!/usr/bin/python3
"""Tests of steered generation (`atman generate`, Explainer.generate;
docs/steering.md) against an independent float64 reference:

- the network is re-implemented from the weights (reference_atman.Reference);
  the attention of docs/method.md is written here again, with the row minimum
  of each decode path: the KV cache's (row q takes its minimum over the keys
  that exist when it is computed: the whole prompt for prompt rows, keys
  0..q for generated rows) and the full recompute's (every row over all keys
  of the current sequence); every step is a full float64 pass;
- two-layer test models, suppression and amplification (factor 2 and 5),
  image patches and text spans: identical tokens, log-probabilities within
  1e-4;
- torch.classes.atman.Explainer.generate agrees with the command line, is
  deterministic for a seed when sampling, runs inside TorchScript, and raises
  RuntimeError with the command line's line.

Usage (ctest runs it): test_generate.py --atman build/atman --library build/libatman_ops.so
        --models build/test_models --work-dir build/python_generate [unittest args]"""
import argparse
import json
import math
import os
import subprocess
import sys
import unittest

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.reference_atman import Reference, load_pixels  # noqa: E402

ARGS = None
LOGPROB_TOLERANCE = 1e-4
QUESTION = "Question: What color is the circle? Answer:"
FACTS = "Alice lives in Paris. Bob works as a baker. Alice likes apples."


def model(name):
    return os.path.join(ARGS.models, name)


def work(name):
    return os.path.join(ARGS.work_dir, name)


def make_image():
    bgr = np.full((120, 150, 3), 120, np.uint8)
    cv2.circle(bgr, (45, 50), 22, (40, 40, 220), -1)
    cv2.rectangle(bgr, (90, 60), (130, 100), (60, 180, 40), -1)
    cv2.imwrite(work("shapes.png"), bgr)
    return work("shapes.png")


# ------------------------------------------------------------ reference ---
def attention(q, k, v, modifier, min_keys):
    """docs/method.md with the row minimum over the keys j < min_keys[q] of
    each row q (the causal mask after the modification). q, k, v [H, S, dh]."""
    s = q.shape[1]
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    keys = torch.arange(s)
    outside = keys[None, :] >= min_keys[:, None]  # [S, S]: keys not in the row's minimum
    row_min = scores.masked_fill(outside[None], float("inf")).min(dim=-1, keepdim=True).values
    scores = (scores - row_min) * modifier[None, None, :]
    scores = scores.masked_fill(keys[None, :] > keys[:, None], float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def logits(ref, emb, modifier, min_keys):
    """A tiny-magma pass in float64 (reference_atman.Reference) with this
    file's attention; emb [S, D] -> logits [S, V]."""
    return ref.logits(emb, modifier, attention=lambda q, k, v, m: attention(q, k, v, m, min_keys))


def reference_generate(ref, emb, modifier, tokens, path):
    """Greedy tokens and their log-probabilities; emb [S, D] and modifier [S]
    of the prompt; generated keys get the factor 1."""
    prompt_len = emb.shape[0]
    ids, logprobs = [], []
    for _ in range(tokens):
        s = emb.shape[0]
        full = torch.cat([modifier, torch.ones(s - prompt_len, dtype=torch.float64)])
        if path == "kv-cache":
            min_keys = torch.clamp(torch.arange(s) + 1, min=prompt_len)
        else:
            min_keys = torch.full((s,), s)
        row = torch.log_softmax(logits(ref, emb, full, min_keys)[-1], dim=-1)
        nxt = int(row.argmax())
        ids.append(nxt)
        logprobs.append(float(row[nxt]))
        emb = torch.cat([emb, ref.embed_text([nxt])], dim=0)
    return ids, logprobs


def run_generate(*flags):
    proc = subprocess.run([ARGS.atman, "generate", *flags], capture_output=True, text=True)
    return proc


class ReferenceAgreement(unittest.TestCase):
    """The real binary against the float64 reference, both decode paths."""

    CASES = [
        # (model, image?, prompt, flags)
        ("image_text.pt", True, QUESTION, ["--amplify", "image:2,2,6,6", "--factor-amplify", "5"]),
        ("image_text.pt", True, QUESTION, ["--suppress", "image:0,0,7,7", "--amplify", "circle"]),
        ("text_only.pt", False, FACTS, ["--amplify", "Bob", "--factor-amplify", "2"]),
        ("text_only.pt", False, FACTS, ["--suppress", "Alice@2", "--amplify", "sentence:2", "--factor-suppress", "0"]),
        ("text_only.pt", False, FACTS, []),
    ]

    def test_cases(self):
        image = make_image()
        worst = 0.0
        for n, (name, with_image, prompt, flags) in enumerate(self.CASES):
            ref = Reference(model(name))
            for path in ("kv-cache", "recompute"):
                out = work("case%d_%s.json" % (n, path))
                extra = ["--recompute"] if path == "recompute" else []
                args = ["--model", model(name), "--prompt", prompt, "--max-tokens", "10", "--ignore-eos",
                        "--no-unsteered", "--json", out] + flags + extra
                if with_image:
                    args += ["--image", image]
                proc = run_generate(*args)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                with open(out) as f:
                    got = json.load(f)
                self.assertEqual(got["params"]["decode_path"], path)
                with torch.no_grad():
                    cfg = ref.config
                    text = ref.embed_text([cfg["bos_id"]] + ref.sp.encode(prompt))
                    emb = torch.cat([ref.embed_image(load_pixels(image, cfg["image"])), text]) if with_image else text
                    modifier = torch.tensor(got["modifier"], dtype=torch.float64)
                    # The modifier itself, from the spans' positions (no threshold here).
                    expected = torch.ones(emb.shape[0], dtype=torch.float64)
                    for control in got["controls"]:
                        expected[control["positions"]] = control["factor"]
                    self.assertTrue(torch.allclose(modifier, expected, atol=1e-7), (name, flags))
                    ids, logprobs = reference_generate(ref, emb, expected, 10, path)
                label = "%s %s %s" % (name, " ".join(flags), path)
                self.assertEqual(got["steered"]["ids"], ids, label)
                diff = max(abs(a - b) for a, b in zip(got["steered"]["logprobs"], logprobs))
                worst = max(worst, diff)
                self.assertLess(diff, LOGPROB_TOLERANCE, label)
        print("worst |log p| difference against the float64 reference: %.2e" % worst)


class OpsGenerate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.ops.load_library(ARGS.library)

    def test_agrees_with_the_command_line(self):
        explainer = torch.classes.atman.Explainer(model("text_only.pt"))
        out = work("ops.json")
        proc = run_generate("--model", model("text_only.pt"), "--prompt", FACTS, "--suppress", "Alice",
                            "--amplify", "word:5", "--max-tokens", "8", "--json", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            cli = json.load(f)
        text, ids, plain, plain_ids = explainer.generate(FACTS, suppress=["Alice"], amplify=["word:5"], max_tokens=8)
        self.assertEqual(text, cli["steered"]["text"])
        self.assertEqual(ids.tolist(), cli["steered"]["ids"])
        self.assertEqual(plain, cli["unsteered"]["text"])
        self.assertEqual(plain_ids.tolist(), cli["unsteered"]["ids"])
        self.assertEqual(ids.dtype, torch.int64)

    def test_image_and_recompute(self):
        image = make_image()
        explainer = torch.classes.atman.Explainer(model("image_text.pt"))
        cached = explainer.generate(QUESTION, image, ["image:3,3,5,5"], [], 0.1, 2.0, None, 6)
        recomputed = explainer.generate(QUESTION, image_path=image, suppress=["image:3,3,5,5"], max_tokens=6,
                                        recompute=True)
        self.assertEqual(cached[1].tolist(), recomputed[1].tolist())

    def test_sampling_is_deterministic_for_a_seed(self):
        explainer = torch.classes.atman.Explainer(model("text_only.pt"))
        a = explainer.generate(FACTS, amplify=["Bob"], sample=True, temperature=1.3, seed=11, max_tokens=10)
        b = explainer.generate(FACTS, amplify=["Bob"], sample=True, temperature=1.3, seed=11, max_tokens=10)
        self.assertEqual(a[1].tolist(), b[1].tolist())
        self.assertEqual(a[3].tolist(), b[3].tolist())

    def test_in_torchscript(self):
        @torch.jit.script
        def steer(explainer: torch.classes.atman.Explainer, prompt: str) -> str:
            return explainer.generate(prompt, None, ["Alice"], [], 0.1, 2.0, None, 4, False, 1.0, 0, False)[0]

        explainer = torch.classes.atman.Explainer(model("text_only.pt"))
        self.assertEqual(steer(explainer, FACTS), explainer.generate(FACTS, suppress=["Alice"], max_tokens=4)[0])

    def test_errors_carry_the_command_lines_line(self):
        explainer = torch.classes.atman.Explainer(model("text_only.pt"))
        proc = run_generate("--model", model("text_only.pt"), "--prompt", FACTS, "--suppress", "Zed")
        line = proc.stderr.strip()[len("atman: error: "):]
        with self.assertRaises(RuntimeError) as caught:
            explainer.generate(FACTS, suppress=["Zed"])
        self.assertEqual(str(caught.exception).splitlines()[0], line)
        for kwargs, message in [
                ({"factor_suppress": 1.0}, "suppress factor must be a finite number in [0, 1), got 1"),
                ({"factor_amplify": 0.5}, "amplify factor must be a finite number in (1, 1000], got 0.5"),
                ({"max_tokens": 0}, "max tokens must be in [1, 4096], got 0"),
                ({"suppress": ["image"]}, "span \"image\": there is no image")]:
            with self.assertRaises(RuntimeError) as caught:
                explainer.generate(FACTS, **kwargs)
            self.assertEqual(str(caught.exception).splitlines()[0], message)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--atman", required=True)
    parser.add_argument("--library", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    torch.set_num_threads(2)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
