#!/usr/bin/python3
"""Tests of libatman_ops.so, the torch op library (csrc/ops/), from Python and
TorchScript, the way users load it (torch.ops.load_library, i.e. dlopen):

- the registered schemas, exactly;
- torch.classes.atman.Explainer agrees with `atman explain --json` on the
  same inputs within 64 float32 ULPs of the cross-entropies (two processes:
  their sums may run in another order; float32_rounding.py), and with the independent PyTorch reference
  (reference_atman.py) within 1e-4 of the largest |relevance| (image-text and
  text-only test models);
- explain_pixels, config, the tensor ops (conceptual_modifiers, relevance,
  also as the building blocks of a sweep over a user's own model);
- TorchScript: a scripted function builds an Explainer and explains; modules
  survive torch.jit.save/load (an Explainer attribute too, by its pickle);
- every error path raises RuntimeError with the command line's line;
- loading the library twice is harmless;
- the README's Python example runs verbatim.

Usage (ctest runs it): test_ops.py --library build/libatman_ops.so --atman build/atman
        --models build/test_models --source-dir . --work-dir build/python_ops [unittest args]"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import unittest
from typing import Dict, Optional

import cv2
import numpy as np
import torch
from torch import Tensor

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.float32_rounding import ce_scale, reorder_tolerance  # noqa: E402

ARGS = None
REFERENCE_TOLERANCE = 1e-4
KIND_CODES = {"image": 0, "text": 1, "target": 2}
# unittest's assertions for the module-level helpers (kept under python3 -O, unlike assert).
CHECK = unittest.TestCase()

FACTS = ("Alice lives in Paris. Bob works as a baker. Carol likes apples. "
         "Question: Where does Alice live? Answer:")
QUESTION = "Question: What color is the circle? Answer:"


def model(name):
    return os.path.join(ARGS.models, name)


def bad_model(name):
    return os.path.join(ARGS.models, "bad", name)


def work(name):
    return os.path.join(ARGS.work_dir, name)


def make_inputs():
    """Test images and broken image files in the work directory."""
    rng = np.random.default_rng(7)
    shrink = np.full((120, 150, 3), 120, np.uint8) + rng.integers(0, 8, (120, 150, 3), dtype=np.uint8)
    cv2.circle(shrink, (45, 50), 22, (40, 40, 220), -1)  # BGR: red
    cv2.rectangle(shrink, (90, 60), (135, 105), (60, 180, 40), -1)
    cv2.imwrite(work("shrink.png"), shrink)
    with open(work("shrink.png"), "rb") as f:
        png = f.read()
    with open(work("truncated.png"), "wb") as f:
        f.write(png[: len(png) // 2])
    with open(work("not_an_image.png"), "w") as f:
        f.write("plain text, not an image\n")
    open(work("empty.png"), "wb").close()
    os.makedirs(work("a_directory.png"), exist_ok=True)


def run_cli(*flags):
    """Runs `atman explain FLAGS --quiet`; returns (exit code, stderr)."""
    proc = subprocess.run([ARGS.atman, "explain", *flags, "--quiet"], capture_output=True, text=True)
    return proc.returncode, proc.stderr


def cli_error_line(*flags):
    """The one error line of `atman explain FLAGS`, without "atman: error: "."""
    code, stderr = run_cli(*flags)
    lines = stderr.strip().splitlines()
    CHECK.assertEqual(code, 1, stderr)
    CHECK.assertEqual(len(lines), 1, stderr)
    CHECK.assertTrue(lines[0].startswith("atman: error: "), stderr)
    return lines[0][len("atman: error: "):]


def cli_explain(model_path, prompt, target, image=None, factor=0.1, kappa=0.6):
    out = work("cli_%d.json" % abs(hash((model_path, prompt, target, image, factor, kappa))))
    flags = ["--model", model_path, "--prompt", prompt, "--target", target, "--json", out,
             "--suppression-factor", repr(factor), "--conceptual-threshold", "off" if kappa is None else repr(kappa)]
    if image:
        flags += ["--image", image]
    code, stderr = run_cli(*flags)
    CHECK.assertEqual(code, 0, stderr)
    with open(out) as f:
        return json.load(f)


class Schemas(unittest.TestCase):
    def test_tensor_op_schemas_exactly(self):
        self.assertEqual(
            str(torch.ops.atman.conceptual_modifiers.default._schema),
            "atman::conceptual_modifiers(Tensor embeddings, Tensor positions, "
            "float suppression_factor=0.10000000000000001, float? conceptual_threshold=0.59999999999999998) "
            "-> Tensor")
        self.assertEqual(str(torch.ops.atman.relevance.default._schema),
                         "atman::relevance(Tensor clean_ce, Tensor perturbed_ce) -> Tensor")

    def test_class_method_schemas(self):
        e = torch.classes.atman.Explainer(model("text_only.pt"))
        schema = {name: str(e._get_method(name).schema)
                  for name in ("explain", "explain_pixels", "config", "model_path")}
        self.assertIn("explain(__torch__.torch.classes.atman.Explainer _0, str prompt, str target, "
                      "str? image_path=None, float suppression_factor=0.10000000000000001, "
                      "float? conceptual_threshold=0.59999999999999998, str control=\"multiplicative\", "
                      "str method=\"atman\"", schema["explain"])
        self.assertIn("explain_pixels(__torch__.torch.classes.atman.Explainer _0, str prompt, str target, "
                      "Tensor pixels, float suppression_factor=0.10000000000000001, "
                      "float? conceptual_threshold=0.59999999999999998, str control=\"multiplicative\", "
                      "str method=\"atman\"", schema["explain_pixels"])
        for name in ("explain", "explain_pixels"):
            self.assertIn("-> Dict(str, Tensor)", schema[name])
        self.assertIn("-> str", schema["config"])

    def test_config_is_the_models_config(self):
        extra = {"atman/config.json": ""}
        torch.jit.load(model("image_text.pt"), _extra_files=extra)
        shipped = json.loads(extra["atman/config.json"])
        got = json.loads(torch.classes.atman.Explainer(model("image_text.pt")).config())
        for key in ("contract", "name", "vocab_size", "hidden_size", "num_layers", "num_heads", "max_positions",
                    "add_bos", "bos_id", "prompt_template"):
            self.assertEqual(got[key], shipped[key], key)
        self.assertEqual(got["image"]["grid"], shipped["image"]["grid"])
        self.assertIsNone(json.loads(torch.classes.atman.Explainer(model("text_only.pt")).config())["image"])
        self.assertEqual(torch.classes.atman.Explainer(model("text_only.pt")).model_path(), model("text_only.pt"))


class AgreesWithCommandLine(unittest.TestCase):
    """The same inputs through the op library and through `atman explain --json`."""

    CASES = [
        dict(model="image_text.pt", prompt=QUESTION, target=" red", image="shrink.png", factor=0.1, kappa=0.6),
        dict(model="image_text.pt", prompt="What shape is the green object?", target=" a square", image=None,
             factor=0.25, kappa=None),
        dict(model="text_only.pt", prompt=FACTS, target=" Paris", image=None, factor=0.1, kappa=0.6),
        dict(model="text_only.pt", prompt=FACTS, target=" Paris. Yes", image=None, factor=0.1, kappa=0.3),
        dict(model="minimal.pt", prompt=QUESTION, target=" blue", image="shrink.png", factor=0.1, kappa=None),
    ]

    def test_cases(self):
        threads = torch.get_num_threads()
        for case in self.CASES:
            with self.subTest(**case):
                image = work(case["image"]) if case["image"] else None
                explainer = torch.classes.atman.Explainer(model(case["model"]))
                got = explainer.explain(case["prompt"], case["target"], image, case["factor"], case["kappa"])
                want = cli_explain(model(case["model"]), case["prompt"], case["target"], image, case["factor"],
                                   case["kappa"])
                self.assertEqual(torch.get_num_threads(), threads, "explain must restore the thread count")
                self.check_same(got, want)

    def check_same(self, got, want):
        positions = want["positions"]
        s, t = len(positions), len(want["targets"])
        self.assertEqual(set(got), {"relevance", "per_target", "kind", "token_ids", "target_ids", "target_ce"})
        self.assertEqual(got["relevance"].shape, (s,))
        self.assertEqual(got["per_target"].shape, (s, t))
        self.assertEqual(got["kind"].dtype, torch.int64)
        self.assertEqual([p["index"] for p in positions], list(range(s)), "every position is explained")
        self.assertEqual(got["kind"].tolist(), [KIND_CODES[p["kind"]] for p in positions])
        self.assertEqual(got["token_ids"].tolist(), [p.get("token_id", -1) for p in positions])
        self.assertEqual(got["target_ids"].tolist(), [x["id"] for x in want["targets"]])
        want_r = torch.tensor([p["relevance"] for p in positions], dtype=torch.float64)
        want_rt = torch.tensor([p["per_target"] for p in positions], dtype=torch.float64)
        want_ce = torch.tensor([x["ce"] for x in want["targets"]], dtype=torch.float64)
        # The command runs in another process, with its own threads and batch (issue 28).
        tol = reorder_tolerance(ce_scale(want))
        self.assertLessEqual((got["relevance"] - want_r).abs().max().item(), tol)
        self.assertLessEqual((got["per_target"] - want_rt).abs().max().item(), tol)
        self.assertLessEqual((got["target_ce"] - want_ce).abs().max().item(), tol)
        self.assertTrue(torch.allclose(got["per_target"].sum(1), got["relevance"], atol=1e-12))


class AgreesWithReference(unittest.TestCase):
    """The independent float64 PyTorch implementation of docs/method.md."""

    CASES = [
        dict(model="image_text.pt", prompt=QUESTION, target=" red", image="shrink.png", factor=0.1, kappa=0.6),
        dict(model="text_only.pt", prompt=FACTS, target=" Paris", image=None, factor=0.1, kappa=None),
        dict(model="text_only.pt", prompt=FACTS, target=" Paris. Yes", image=None, factor=0.3, kappa=0.6),
    ]

    def test_cases(self):
        from tests.python import reference_atman
        for case in self.CASES:
            with self.subTest(**case):
                image = work(case["image"]) if case["image"] else None
                got = torch.classes.atman.Explainer(model(case["model"])).explain(
                    case["prompt"], case["target"], image_path=image, suppression_factor=case["factor"],
                    conceptual_threshold=case["kappa"])
                want = reference_atman.explain(model(case["model"]), case["prompt"], case["target"], image,
                                               case["factor"], case["kappa"], "token")
                self.assertEqual(got["target_ids"].tolist(), [x["id"] for x in want["targets"]])
                want_r = torch.tensor([p["relevance"] for p in want["positions"]], dtype=torch.float64)
                want_rt = torch.tensor([p["per_target"] for p in want["positions"]], dtype=torch.float64)
                scale = want_r.abs().max().item()
                self.assertGreater(scale, 1e-3, "test models must give relevance far from zero")
                err = (got["relevance"] - want_r).abs().max().item() / scale
                err_t = (got["per_target"] - want_rt).abs().max().item() / want_rt.abs().max().item()
                print("  reference %-13s S=%-4d rel.err %.2e per-target %.2e" % (
                    case["model"], len(want_r), err, err_t))
                self.assertLess(err, REFERENCE_TOLERANCE)
                self.assertLess(err_t, REFERENCE_TOLERANCE)


class Pixels(unittest.TestCase):
    def test_explain_pixels_equals_explain_of_the_file(self):
        bgr = cv2.imread(work("shrink.png"), cv2.IMREAD_COLOR)
        pixels = torch.from_numpy(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)  # not contiguous
        explainer = torch.classes.atman.Explainer(model("image_text.pt"))
        from_file = explainer.explain(QUESTION, " red", work("shrink.png"))
        from_pixels = explainer.explain_pixels(QUESTION, " red", pixels)
        by_name = explainer.explain_pixels(prompt=QUESTION, target=" red", pixels=pixels.contiguous(),
                                           suppression_factor=0.1, conceptual_threshold=0.6)
        for key in from_file:
            self.assertTrue(torch.equal(from_file[key], from_pixels[key]), key)
            self.assertTrue(torch.equal(from_file[key], by_name[key]), key)


def independent_modifiers(emb, positions, f, kappa):
    """docs/method.md written out again in float64."""
    e = emb.double()
    unit = e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = (unit @ unit.T).clamp(-1, 1)
    rows = torch.ones(len(positions), e.shape[0], dtype=torch.float64)
    for n, i in enumerate(positions):
        if kappa is not None:
            for j in range(e.shape[0]):
                c = float(cos[i, j])
                if j != i and c >= kappa:
                    rows[n, j] = (1 - f) * (1 - c) + f if 0 <= c <= 1 else 1.0
        rows[n, i] = f
    return rows


class TensorOps(unittest.TestCase):
    def test_conceptual_modifiers(self):
        gen = torch.Generator().manual_seed(3)
        base = torch.randn(4, 8, generator=gen)
        emb = torch.cat([base, base[:2] + 0.3 * torch.randn(2, 8, generator=gen), -base[:1]])  # near and opposite
        positions = torch.tensor([0, 1, 4, 6, 0])
        for f, kappa in ((0.1, 0.6), (0.1, None), (0.4, 0.2), (2.0, 0.5), (0.1, -1.0)):
            with self.subTest(f=f, kappa=kappa):
                got = torch.ops.atman.conceptual_modifiers(emb, positions, f, kappa)
                self.assertEqual(got.dtype, torch.float32)
                self.assertEqual(got.shape, (5, emb.shape[0]))
                want = independent_modifiers(emb, positions.tolist(), f, kappa)
                self.assertLess((got.double() - want).abs().max().item(), 1e-6)
        defaults = torch.ops.atman.conceptual_modifiers(emb.double(), positions)
        self.assertTrue(torch.equal(defaults, torch.ops.atman.conceptual_modifiers(emb, positions, 0.1, 0.6)))
        self.assertEqual(torch.ops.atman.conceptual_modifiers(emb, torch.zeros(0, dtype=torch.long)).shape, (0, 7))

    def test_relevance(self):
        clean = torch.tensor([0.5, 1.0], dtype=torch.float32)
        perturbed = torch.tensor([[0.75, 1.0], [0.25, 3.0]], dtype=torch.float64)
        got = torch.ops.atman.relevance(clean, perturbed)
        self.assertEqual(got.dtype, torch.float64)
        self.assertTrue(torch.equal(got, torch.tensor([[0.25, 0.0], [-0.25, 2.0]], dtype=torch.float64)))
        self.assertEqual(torch.ops.atman.relevance(clean, torch.zeros(0, 2)).shape, (0, 2))

    def test_own_sweep_with_the_ops_reproduces_the_explainer(self):
        """Bring-your-own-model path: the contract model driven from Python,
        only the modifier rows and the relevance from the ops."""
        import sentencepiece as spm
        path = model("text_only.pt")
        extra = {"atman/config.json": "", "atman/tokenizer.model": ""}
        net = torch.jit.load(path, _extra_files=extra)
        config = json.loads(extra["atman/config.json"])
        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])
        prompt_ids = [config["bos_id"]] + sp.encode(FACTS)
        target_ids = sp.encode(" Paris. Yes")
        ids = torch.tensor([prompt_ids + target_ids[:-1]])
        rows = [len(prompt_ids) - 1 + t for t in range(len(target_ids))]
        with torch.no_grad():
            emb = net.embed_text(ids)
            s = emb.shape[1]
            modifiers = torch.ops.atman.conceptual_modifiers(emb[0], torch.arange(s), 0.1, 0.6)

            def ce(m):
                logp = torch.log_softmax(net(emb, m)[:, rows].double(), dim=-1)
                return -logp[:, torch.arange(len(target_ids)), torch.tensor(target_ids)]

            r = torch.ops.atman.relevance(ce(torch.ones(1, s))[0], ce(modifiers)).sum(1)
        want = torch.classes.atman.Explainer(path).explain(FACTS, " Paris. Yes")["relevance"]
        self.assertLess((r - want).abs().max().item() / want.abs().max().item(), 1e-4)


class ExplainerUser(torch.nn.Module):
    """Builds an Explainer inside forward."""

    def forward(self, model_path: str, prompt: str, target: str, image_path: Optional[str]) -> Tensor:
        explainer = torch.classes.atman.Explainer(model_path)
        return explainer.explain(prompt, target, image_path, conceptual_threshold=None)["relevance"]


class ExplainerHolder(torch.nn.Module):
    """Holds an Explainer (saved by its __getstate__: the model path)."""

    def __init__(self, model_path: str):
        super().__init__()
        self.explainer = torch.classes.atman.Explainer(model_path)

    def forward(self, prompt: str, target: str) -> Dict[str, Tensor]:
        return self.explainer.explain(prompt, target)


class OwnSweep(torch.nn.Module):
    """The tensor ops inside TorchScript."""

    def forward(self, emb: Tensor, clean: Tensor, perturbed: Tensor) -> Tensor:
        m = torch.ops.atman.conceptual_modifiers(emb, torch.arange(emb.shape[0]), 0.1, None)
        return torch.ops.atman.relevance(clean, perturbed) * m[:, :1].double()


class TorchScript(unittest.TestCase):
    def test_scripted_function(self):
        @torch.jit.script
        def relevance_of(model_path: str, prompt: str, target: str) -> Tensor:
            explainer = torch.classes.atman.Explainer(model_path)
            return explainer.explain(prompt, target, None, 0.1, 0.6)["relevance"]

        got = relevance_of(model("text_only.pt"), FACTS, " Paris")
        want = torch.classes.atman.Explainer(model("text_only.pt")).explain(FACTS, " Paris")["relevance"]
        self.assertTrue(torch.equal(got, want))
        self.assertIn("atman.Explainer", str(relevance_of.graph))

    def test_module_round_trip(self):
        scripted = torch.jit.script(ExplainerUser())
        path = work("explainer_user.pt")
        torch.jit.save(scripted, path)
        loaded = torch.jit.load(path)
        args = (model("image_text.pt"), QUESTION, " red", work("shrink.png"))
        want = torch.classes.atman.Explainer(model("image_text.pt")).explain(
            QUESTION, " red", work("shrink.png"), 0.1, None)["relevance"]
        self.assertTrue(torch.equal(scripted(*args), want))
        self.assertTrue(torch.equal(loaded(*args), want))

    def test_held_explainer_round_trip(self):
        scripted = torch.jit.script(ExplainerHolder(model("text_only.pt")))
        path = work("explainer_holder.pt")
        torch.jit.save(scripted, path)
        want = scripted(FACTS, " Paris")["relevance"]
        self.assertTrue(torch.equal(torch.jit.load(path)(FACTS, " Paris")["relevance"], want))
        # A fresh process: load the library, then the module (which reloads the model).
        code = textwrap.dedent("""
            import sys, torch
            torch.ops.load_library(sys.argv[1])
            m = torch.jit.load(sys.argv[2])
            print(repr(m("%s", " Paris")["relevance"].tolist()))
        """ % FACTS)
        proc = subprocess.run([sys.executable, "-c", code, ARGS.library, path], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(eval(proc.stdout), want.tolist())

    def test_tensor_ops_round_trip(self):
        scripted = torch.jit.script(OwnSweep())
        path = work("own_sweep.pt")
        torch.jit.save(scripted, path)
        args = (torch.randn(3, 4), torch.tensor([1.0, 2.0]), torch.ones(3, 2))
        # relevance: CE(m) - CE(1) = [0, -1] per row; column 0 of the single-token rows: [0.1, 1, 1]
        want = torch.tensor([[0.0, -0.1], [0.0, -1.0], [0.0, -1.0]], dtype=torch.float64)
        self.assertTrue(torch.allclose(scripted(*args), want))
        self.assertTrue(torch.allclose(torch.jit.load(path)(*args), want))


class Errors(unittest.TestCase):
    """RuntimeError with exactly the command line's line; the process lives on."""

    def assert_raises_line(self, line, fn, *args, **kwargs):
        with self.assertRaises(RuntimeError) as ctx:
            fn(*args, **kwargs)
        self.assertEqual(str(ctx.exception), line)

    def test_model_errors_match_the_command_line(self):
        paths = [work("no_such_model.pt"), ARGS.work_dir] + [bad_model(n) for n in (
            "empty.pt", "random_bytes.pt", "zip_not_torchscript.pt", "no_extra_files.pt", "no_tokenizer.pt",
            "not_contract.pt", "config_not_json.pt", "config_wrong_type.pt", "config_missing_field.pt",
            "bad_tokenizer.pt")]
        for path in paths:
            with self.subTest(model=path):
                line = cli_error_line("--model", path, "--prompt", "Hello", "--target", " red")
                self.assert_raises_line(line, torch.classes.atman.Explainer, path)

    def test_run_time_model_errors_match_the_command_line(self):
        for name in ("nan_logits.pt", "wrong_vocab.pt"):
            with self.subTest(model=name):
                line = cli_error_line("--model", bad_model(name), "--prompt", QUESTION, "--target", " red")
                explainer = torch.classes.atman.Explainer(bad_model(name))
                self.assert_raises_line(line, explainer.explain, QUESTION, " red")

    def test_image_errors_match_the_command_line(self):
        explainer = torch.classes.atman.Explainer(model("image_text.pt"))
        for name in ("no_such_image.png", "a_directory.png", "empty.png", "not_an_image.png", "truncated.png"):
            with self.subTest(image=name):
                line = cli_error_line("--model", model("image_text.pt"), "--prompt", QUESTION, "--target", " red",
                                      "--image", work(name))
                self.assert_raises_line(line, explainer.explain, QUESTION, " red", work(name))

    def test_text_errors_match_the_command_line(self):
        explainer = torch.classes.atman.Explainer(model("image_text.pt"))
        long_prompt = " ".join(["word"] * 300)
        for prompt, target in ((QUESTION, ""), (QUESTION, "   "), ("", " red"), (long_prompt, " red")):
            with self.subTest(prompt=prompt[:20], target=target):
                line = cli_error_line("--model", model("image_text.pt"), "--prompt", prompt, "--target", target)
                self.assert_raises_line(line, explainer.explain, prompt, target)
                self.assert_raises_line(line, explainer.explain, prompt, target, None, 0.1, None)
        self.assert_raises_line("target is empty", explainer.explain_pixels, QUESTION, "",
                                torch.zeros(3, 8, 8, dtype=torch.uint8))

    def test_option_errors(self):
        explainer = torch.classes.atman.Explainer(model("text_only.pt"))
        self.assert_raises_line("suppression factor must be a finite number >= 0, got -1", explainer.explain,
                                FACTS, " Paris", suppression_factor=-1.0)
        self.assert_raises_line("suppression factor must be a finite number >= 0, got nan", explainer.explain,
                                FACTS, " Paris", suppression_factor=float("nan"))
        self.assert_raises_line("conceptual threshold must be in [-1, 1] or off, got 1.5", explainer.explain,
                                FACTS, " Paris", conceptual_threshold=1.5)

    def test_image_argument_errors(self):
        text_only = torch.classes.atman.Explainer(model("text_only.pt"))
        self.assert_raises_line(
            "%s: model test-text-only is text-only (config image is null): it takes no image_path %s" % (
                model("text_only.pt"), work("shrink.png")),
            text_only.explain, FACTS, " Paris", work("shrink.png"))
        self.assert_raises_line(
            "%s: model test-text-only is text-only (config image is null): it takes no pixels" % model("text_only.pt"),
            text_only.explain_pixels, FACTS, " Paris", torch.zeros(3, 8, 8, dtype=torch.uint8))
        explainer = torch.classes.atman.Explainer(model("image_text.pt"))
        self.assert_raises_line("image_path is empty (pass None for no image)", explainer.explain, QUESTION, " red", "")
        for pixels, shown in ((torch.zeros(3, 8, 8), "float32 [3, 8, 8]"),
                              (torch.zeros(8, 8, 3, dtype=torch.uint8), "uint8 [8, 8, 3]"),
                              (torch.zeros(8, 8, dtype=torch.uint8), "uint8 [8, 8]"),
                              (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "uint8 [1, 3, 8, 8]")):
            with self.subTest(pixels=shown):
                self.assert_raises_line(
                    "explain_pixels: expected pixels uint8 [3, H, W] (RGB) on the CPU, got " + shown,
                    explainer.explain_pixels, QUESTION, " red", pixels)
        self.assert_raises_line("explain_pixels: pixels must have H, W >= 1, got uint8 [3, 0, 8]",
                                explainer.explain_pixels, QUESTION, " red", torch.zeros(3, 0, 8, dtype=torch.uint8))

    def test_tensor_op_errors(self):
        cm, rel = torch.ops.atman.conceptual_modifiers, torch.ops.atman.relevance
        emb, pos = torch.randn(5, 4), torch.tensor([0, 4])
        cases = [
            (cm, (torch.randn(5), pos), "conceptual_modifiers: expected embeddings float32 or float64 [S, D] on the "
                                        "CPU, got float32 [5]"),
            (cm, (torch.ones(5, 4, dtype=torch.long), pos), "conceptual_modifiers: expected embeddings float32 or "
                                                            "float64 [S, D] on the CPU, got int64 [5, 4]"),
            (cm, (torch.randn(0, 4), torch.zeros(0, dtype=torch.long)),
             "conceptual_modifiers: embeddings must have at least one position and one feature, got float32 [0, 4]"),
            (cm, (torch.full((5, 4), float("nan")), pos), "conceptual_modifiers: embeddings contain NaN or Inf"),
            (cm, (emb, pos.float()), "conceptual_modifiers: expected positions int64 [N] on the CPU, got float32 [2]"),
            (cm, (emb, pos.view(2, 1)), "conceptual_modifiers: expected positions int64 [N] on the CPU, got "
                                        "int64 [2, 1]"),
            (cm, (emb, torch.tensor([0, 5])), "conceptual_modifiers: positions[1] = 5 is outside [0, 5) (5 embeddings)"),
            (cm, (emb, torch.tensor([-1])), "conceptual_modifiers: positions[0] = -1 is outside [0, 5) (5 embeddings)"),
            (cm, (emb, pos, -0.5, 0.6), "conceptual_modifiers: suppression_factor must be a finite number >= 0, "
                                        "got -0.5"),
            (cm, (emb, pos, 0.1, 1.5), "conceptual_modifiers: conceptual_threshold must be in [-1, 1] or None, "
                                       "got 1.5"),
            (rel, (torch.zeros(2, 1), torch.zeros(3, 2)), "relevance: expected clean_ce float32 or float64 [T] on "
                                                          "the CPU, got float32 [2, 1]"),
            (rel, (torch.zeros(2), torch.zeros(3)), "relevance: expected perturbed_ce float32 or float64 [N, T] on "
                                                    "the CPU, got float32 [3]"),
            (rel, (torch.zeros(2, dtype=torch.long), torch.zeros(3, 2)),
             "relevance: expected clean_ce float32 or float64 [T] on the CPU, got int64 [2]"),
            (rel, (torch.zeros(2), torch.zeros(3, 4)), "relevance: perturbed_ce float32 [3, 4] does not match "
                                                       "clean_ce float32 [2]: T must be the same"),
            (rel, (torch.zeros(0), torch.zeros(3, 0)), "relevance: expected at least one target token, got T = 0"),
        ]
        for op, args, line in cases:
            with self.subTest(line=line):
                self.assert_raises_line(line, op, *args)

    def test_errors_inside_torchscript(self):
        @torch.jit.script
        def explain_in_script(model_path: str, target: str) -> Tensor:
            return torch.classes.atman.Explainer(model_path).explain("Hello", target)["relevance"]

        with self.assertRaises(RuntimeError) as ctx:
            explain_in_script(work("no_such_model.pt"), " red")
        self.assertEqual(str(ctx.exception).strip().splitlines()[-1],
                         "RuntimeError: %s: model file not found" % work("no_such_model.pt"))
        with self.assertRaises(RuntimeError) as ctx:
            explain_in_script(model("text_only.pt"), "")
        self.assertEqual(str(ctx.exception).strip().splitlines()[-1], "RuntimeError: target is empty")
        self.assertEqual(explain_in_script(model("text_only.pt"), " Paris").dim(), 1)  # still alive


class LoadTwice(unittest.TestCase):
    def test_loading_twice_is_harmless(self):
        link = work("libatman_ops_link.so")
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(os.path.abspath(ARGS.library), link)
        code = textwrap.dedent("""
            import ctypes, sys, torch
            library, link, model = sys.argv[1:4]
            torch.ops.load_library(library)
            torch.ops.load_library(library)
            torch.ops.load_library(link)
            ctypes.CDLL(library)
            torch.ops.load_library(library)
            r = torch.ops.atman.relevance(torch.zeros(1), torch.ones(2, 1))
            e = torch.classes.atman.Explainer(model)
            print(r.tolist(), e.explain("Alice lives in Paris. Question: Where does Alice live? Answer:",
                                        " Paris")["relevance"].shape[0])
        """)
        proc = subprocess.run([sys.executable, "-c", code, ARGS.library, link, model("text_only.pt")],
                              capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(proc.stdout.startswith("[[1.0], [1.0]] "), proc.stdout)
        self.assertEqual(proc.stderr, "", "no warnings on a second load")


class ReadmeExample(unittest.TestCase):
    def test_readme_python_example_runs_verbatim(self):
        with open(os.path.join(ARGS.source_dir, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## From Python and TorchScript"):]
        example = re.search(r"```python\n(.*?)```", section, re.S).group(1)
        self.assertEqual(len(example.strip().splitlines()), 5, example)
        # A directory laid out like the repository after tools/test.sh: build/libatman_ops.so,
        # torchscript_models/, data/ (the example is run from the repository root).
        root = work("readme_root")
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(os.path.join(root, "build"))
        os.symlink(os.path.abspath(ARGS.library), os.path.join(root, "build", "libatman_ops.so"))
        for name in ("torchscript_models", "data"):
            os.symlink(os.path.join(os.path.abspath(ARGS.source_dir), name), os.path.join(root, name))
        proc = subprocess.run([sys.executable, "-c", example], cwd=root, capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.strip().splitlines()
        print("  README example printed:\n    " + "\n    ".join(lines))
        self.assertEqual(len(lines), 5)
        for line in lines:
            index, kind, value = line.split()
            self.assertIn(kind, ("image", "text", "target"))
            int(index), float(value)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", required=True, help="libatman_ops.so")
    parser.add_argument("--atman", required=True, help="the atman binary")
    parser.add_argument("--models", required=True, help="directory of the test models")
    parser.add_argument("--source-dir", required=True, help="the repository (README.md, torchscript_models, data)")
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    torch.ops.load_library(ARGS.library)
    make_inputs()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
