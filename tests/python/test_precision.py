#!/usr/bin/python3
"""`atman explain --precision bf16` on imported random-weight models (LLaMA
with grouped-query attention, Mistral, Qwen2, LLaVA) against the float32
sweep of the same command (docs/speed.md, "Reduced precision"):

- the units marked recomputed equal float32's within 1e-5 x max(1, max |R|)
  (the recomputation's batches hold other rows than the sweep's, so float32
  sums run in another order), and so do the targets' clean cross-entropies;
- the ten most relevant units of the bfloat16 explanation are float32's ten
  (the recomputation's margin covers bfloat16's error), up to units tied with
  the tenth within that tolerance;
- the whole map keeps its ranking: Spearman >= 0.8 against float32's;
- the JSON says which values are float32 (params.precision, recompute_top,
  recompute_margin, each position's "recomputed");
- --precision auto with ATMAN_ASSUME_NO_BF16=1 (a CPU without bfloat16
  instructions) is the float32 sweep, and --verbose says why.

Usage (ctest runs it): test_precision.py --atman build/atman --models build/imported --source-dir .
        --work-dir build/python_precision"""
import argparse
import json
import os
import subprocess
import sys
import unittest

ARGS = None
PROMPT = "Alice lives in Paris. Bob works as a baker in Rome. Carol likes apples and pears. Where does Alice live?"


def spearman(a, b):
    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2.0
            i = j + 1
        return out
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)


def explain(model, out, *extra, env=None):
    args = [ARGS.atman, "explain", "--model", model, "--prompt", PROMPT, "--target", " Paris", "--threads", "1",
            "--batch-size", "8", "--json", out, "--quiet", *extra]
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {r.stderr}")
    with open(out) as f:
        return json.load(f), r.stderr


def top(doc, k=10):
    units = [(p["relevance"], i) for i, p in enumerate(doc["positions"])]
    return [i for _, i in sorted(units, key=lambda u: -u[0])[:k]]


class PrecisionTest(unittest.TestCase):
    def check_model(self, name):
        model = os.path.join(ARGS.models, name + ".pt")
        exact, _ = explain(model, os.path.join(ARGS.work_dir, name + ".fp32.json"))
        reduced, _ = explain(model, os.path.join(ARGS.work_dir, name + ".bf16.json"), "--precision", "bf16")
        self.assertNotIn("precision", exact["params"])
        self.assertEqual(reduced["params"]["precision"], "bf16")
        self.assertEqual(reduced["params"]["recompute_top"], 10)
        self.assertEqual(reduced["params"]["recompute_margin"], 0.15)
        positions = list(zip(exact["positions"], reduced["positions"]))
        recomputed = [b["recomputed"] for _, b in positions]
        self.assertGreaterEqual(sum(recomputed), min(10, len(positions)))
        tolerance = 1e-5 * max(1.0, max(abs(a["relevance"]) for a, _ in positions))
        for a, b in positions:
            if b["recomputed"]:
                self.assertAlmostEqual(b["relevance"], a["relevance"], delta=tolerance)
        for a, b in zip(exact["targets"], reduced["targets"]):
            self.assertAlmostEqual(b["ce"], a["ce"], delta=tolerance)
        exact_top, reduced_top = top(exact), top(reduced)
        tenth = exact["positions"][exact_top[-1]]["relevance"]
        for i in set(exact_top) ^ set(reduced_top):  # only ties with the tenth may trade places
            self.assertAlmostEqual(exact["positions"][i]["relevance"], tenth, delta=2 * tolerance,
                                   msg=f"{name}: unit {i} in one top 10 only")
        for i in reduced_top:
            self.assertTrue(reduced["positions"][i]["recomputed"], f"{name}: unit {i} of the top 10 is bfloat16")
        rho = spearman([p["relevance"] for p in exact["positions"]], [p["relevance"] for p in reduced["positions"]])
        print(f"{name}: {len(positions)} units, {sum(recomputed)} recomputed in float32, Spearman {rho:.4f}")
        self.assertGreaterEqual(rho, 0.8)

    def test_llama_gqa(self):
        self.check_model("llama_gqa")

    def test_mistral(self):
        self.check_model("mistral")

    def test_qwen2(self):
        self.check_model("qwen2")

    def test_auto_without_bfloat16_is_float32(self):
        model = os.path.join(ARGS.models, "llama_gqa.pt")
        env = dict(os.environ, ATMAN_ASSUME_NO_BF16="1")
        auto, err = explain(model, os.path.join(ARGS.work_dir, "auto.json"), "--precision", "auto", "--verbose",
                            env=env)
        exact, _ = explain(model, os.path.join(ARGS.work_dir, "llama_gqa.fp32.json"))
        self.assertIn("float32, exact (auto: this CPU reports no bfloat16 instructions)", err)
        self.assertNotIn("precision", auto["params"])
        self.assertEqual([p["relevance"] for p in auto["positions"]], [p["relevance"] for p in exact["positions"]])

    def test_bad_recompute_flags_are_one_line(self):
        model = os.path.join(ARGS.models, "llama_gqa.pt")
        for flags, words in [(["--recompute-top", "-1"], "--recompute-top must be in [0, 1000000], got -1"),
                             (["--recompute-margin", "2"], "--recompute-margin must be a finite number in [0, 1]")]:
            r = subprocess.run([ARGS.atman, "explain", "--model", model, "--prompt", PROMPT, "--target", " Paris",
                                "--precision", "bf16", *flags], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertIn(words, r.stderr)


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
