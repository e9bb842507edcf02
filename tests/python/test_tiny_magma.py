#!/usr/bin/python3
"""Tests of the tiny-magma issue: the benchmark generators obey docs/evaluation.md
(the task rules), the shipped model keeps the contract and equals a plain forward
with an all-ones modifier, and `atman answer` / `atman accuracy` agree with
the Python model's greedy answers.

Usage: test_tiny_magma.py --atman build/atman --model torchscript_models/tiny_magma.pt
                          --models build/test_models --work-dir DIR"""
import argparse
import json
import math
import os
import subprocess
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
from tests.python import reference_atman  # noqa: E402
from tools.benchdata import facts, shapes  # noqa: E402
from tools.benchdata.vocab import load_vocab  # noqa: E402

ARGS = None


def run_atman(*args):
    return subprocess.run([ARGS.atman, *args], capture_output=True, text=True, timeout=600)


class GeneratorRules(unittest.TestCase):
    def test_shapes_scenes(self):
        vocab = load_vocab()
        rng = np.random.default_rng(5)
        for size in (96, 160):
            for _ in range(150):
                image, objects = shapes.make_scene(rng, size, vocab)
                self.assertEqual(image.shape, (size, size, 3))
                self.assertTrue(2 <= len(objects) <= 4)
                self.assertEqual(len({o["shape"] for o in objects}), len(objects))
                self.assertEqual(len({o["color"] for o in objects}), len(objects))
                union = np.zeros((size, size), bool)
                for obj in objects:
                    y, x, side = obj["box"]
                    self.assertGreaterEqual(side, 0.18 * size - 1e-9)
                    self.assertLessEqual(side, 0.30 * size + 1e-9)
                    self.assertTrue(0 <= y and y + side <= size and 0 <= x and x + side <= size)
                    mask = obj["mask"]
                    self.assertFalse((mask & union).any(), "objects overlap")
                    union |= mask
                    ys, xs = np.nonzero(mask)
                    self.assertTrue(ys.min() >= y and ys.max() < y + side and xs.min() >= x and xs.max() < x + side)
                    # the mask is exactly where the object's colour was drawn
                    base = np.array(vocab["colors"][obj["color"]])
                    drawn = image[mask].astype(int)
                    self.assertTrue((np.abs(drawn - base) <= 20).all())
                    self.assertEqual(len(np.unique(drawn, axis=0)), 1, "object is one flat colour")
                background = image[~union].astype(float)
                self.assertTrue(85 <= background.mean() <= 175)
                self.assertLess(background.std(), 12)
                question, answer, asked = shapes.make_question(rng, objects)
                obj = objects[asked]
                self.assertIn(question, ("What color is the {}?".format(obj["shape"]),
                                         "What shape is the {} object?".format(obj["color"])))
                self.assertEqual(answer, obj["color"] if "color is" in question else obj["shape"])

    def test_facts_items(self):
        vocab = load_vocab()
        rng = np.random.default_rng(6)
        for _ in range(500):
            item = facts.make_item(rng, vocab)
            self.assertTrue(3 <= len(item["facts"]) <= 6)
            name, relation, value = item["facts"][item["asked"]]
            pairs = [(f[0], f[1]) for f in item["facts"]]
            self.assertEqual(pairs.count((name, relation)), 1, "asked pair must occur once")
            self.assertEqual(item["answer"], value)
            start, end = item["evidence_span"]
            self.assertEqual(item["prompt"][start:end], facts.sentence(name, relation, value))
            self.assertTrue(item["prompt"].endswith("Question: {} Answer:".format(facts.question(name, relation))))
            for n, r, v in item["facts"]:
                self.assertIn(n, vocab["names"])
                self.assertIn(v, vocab[{"lives": "cities", "job": "jobs", "likes": "foods"}[r]])


def python_greedy(module, sp, config, prompt, image_path=None, max_tokens=16):
    ids = ([config["bos_id"]] if config["add_bos"] else []) + sp.encode(prompt)
    with torch.no_grad():
        emb = module.embed_text(torch.tensor([ids]))
        if image_path:
            pixels = reference_atman.load_pixels(image_path, config["image"]).float()[None]
            emb = torch.cat([module.embed_image(pixels), emb], dim=1)
        out = []
        while len(out) < max_tokens and emb.size(1) < config["max_positions"]:
            nxt = int(module(emb, torch.ones(1, emb.size(1)))[0, -1].argmax())
            if nxt == config.get("eos_id", -1):
                break
            out.append(nxt)
            emb = torch.cat([emb, module.embed_text(torch.tensor([[nxt]]))], dim=1)
    return sp.decode(out).strip()


class ShippedModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ref = reference_atman.Reference(ARGS.model)
        cls.module = torch.jit.load(ARGS.model)
        cls.config = cls.ref.config
        cls.sp = cls.ref.sp
        cls.data = os.path.join(ARGS.work_dir, "fresh")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make_datasets.py"), "--out", cls.data,
                        "--seed", "31337", "--count", "6", "--image-size", "160"], check=True, capture_output=True)

    def items(self, task):
        with open(os.path.join(self.data, task, "items.jsonl")) as f:
            return [json.loads(line) for line in f]

    def test_config_keeps_the_contract(self):
        for key in ("contract", "name", "vocab_size", "hidden_size", "num_layers", "num_heads", "max_positions",
                    "add_bos", "bos_id", "image", "prompt_template"):
            self.assertIn(key, self.config)
        self.assertEqual(self.config["image"]["grid"], [12, 12])
        self.assertEqual(self.sp.get_piece_size(), self.config["vocab_size"])
        self.assertLess(os.path.getsize(ARGS.model), 25e6)

    def test_all_ones_modifier_equals_plain_forward(self):
        item = self.items("shapes_vqa")[0]
        prompt = self.config["prompt_template"].replace("{question}", item["question"])
        ids = [self.config["bos_id"]] + self.sp.encode(prompt)
        pixels = reference_atman.load_pixels(os.path.join(self.data, "shapes_vqa", item["image"]),
                                             self.config["image"])
        emb = torch.cat([self.ref.embed_image(pixels), self.ref.embed_text(ids)])

        def plain_attention(q, k, v, modifier):  # textbook causal attention, no modifier at all
            s = q.shape[1]
            scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
            scores = scores.masked_fill(torch.triu(torch.ones(s, s, dtype=torch.bool), 1), float("-inf"))
            return torch.softmax(scores, -1) @ v

        saved = reference_atman.atman_attention
        reference_atman.atman_attention = plain_attention
        try:
            plain = self.ref.logits(emb, torch.ones(emb.shape[0], dtype=torch.float64))
        finally:
            reference_atman.atman_attention = saved
        with torch.no_grad():
            contract = self.module(emb.float()[None], torch.ones(1, emb.shape[0]))[0].double()
        scale = plain.abs().max()
        self.assertLess(float((plain - contract).abs().max() / scale), 1e-4)

    def test_answer_agrees_with_python(self):
        for item in self.items("shapes_vqa")[:3]:
            image = os.path.join(self.data, "shapes_vqa", item["image"])
            prompt = self.config["prompt_template"].replace("{question}", item["question"])
            expected = python_greedy(self.module, self.sp, self.config, prompt, image)
            got = run_atman("answer", "--model", ARGS.model, "--image", image, "--question", item["question"])
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertEqual(got.stdout.strip(), expected)
        for item in self.items("facts_qa")[:3]:
            expected = python_greedy(self.module, self.sp, self.config, item["prompt"])
            got = run_atman("answer", "--model", ARGS.model, "--prompt", item["prompt"])
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertEqual(got.stdout.strip(), expected)

    def test_accuracy_matches_python_greedy(self):
        out = os.path.join(ARGS.work_dir, "accuracy.json")
        got = run_atman("accuracy", "--model", ARGS.model, "--data", self.data, "--json", out, "--quiet")
        self.assertEqual(got.returncode, 0, got.stderr)
        with open(out) as f:
            report = json.load(f)
        for task in ("shapes_vqa", "facts_qa"):
            right = 0
            for item in self.items(task):
                image = os.path.join(self.data, task, item["image"]) if "image" in item else None
                prompt = item.get("prompt") or self.config["prompt_template"].replace("{question}", item["question"])
                right += python_greedy(self.module, self.sp, self.config, prompt, image) == item["answer"]
            self.assertEqual(report["tasks"][task]["correct"], right, task)
            self.assertEqual(report["tasks"][task]["items"], 6)
            self.assertIn(task, got.stdout)


class AnswerErrors(unittest.TestCase):
    def check(self, result, code, message):
        self.assertEqual(result.returncode, code, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn(message, lines[0])

    def test_missing_data_folder(self):
        self.check(run_atman("accuracy", "--model", ARGS.model, "--data", "/nonexistent/set", "--quiet"),
                   1, "dataset folder not found: /nonexistent/set")

    def test_malformed_item(self):
        folder = os.path.join(ARGS.work_dir, "bad_set")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "items.jsonl"), "w") as f:
            f.write('{"id": "a", "prompt": "Anna likes fish. Question: What does Anna like? Answer:", "answer": "fish"}\n')
            f.write('{"id": "b", "prompt": 5}\n')
        self.check(run_atman("accuracy", "--model", ARGS.model, "--data", folder, "--quiet"),
                   1, "bad dataset item at " + os.path.join(folder, "items.jsonl") + ":2")

    def test_negative_limit(self):
        self.check(run_atman("accuracy", "--model", ARGS.model, "--data", "x", "--limit", "-1"),
                   2, "--limit must be >= 0, got -1")

    def test_image_for_text_only_model(self):
        image = os.path.join(ROOT, "data", "example", "shapes.png")
        self.check(run_atman("answer", "--model", os.path.join(ARGS.models, "text_only.pt"), "--image", image,
                             "--prompt", "Anna likes fish."), 1, "is text-only")

    def test_question_and_prompt_missing(self):
        self.check(run_atman("answer", "--model", ARGS.model), 2, "give exactly one of --question and --prompt")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--atman", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    torch.set_num_threads(2)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
