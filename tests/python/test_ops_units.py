#!/usr/bin/python3
"""The op library's `units` argument (csrc/ops/unit_options.h) against the
command line: the same units and the same numbers as `atman explain` with the
unit flags, and one line for a bad value."""

import argparse
import json
import os
import subprocess
import sys
import unittest

import torch

from tests.python.float32_rounding import ce_scale, reorder_tolerance

ARGS = None
QUESTION = "Question: What color is the circle? Answer:"


def model(name):
    return os.path.join(ARGS.models, name)


def cli(name, flags, extra):
    out = os.path.join(ARGS.work_dir, name + ".json")
    subprocess.run([ARGS.atman, "explain", "--model", model(name), "--json", out, "-q"] + flags + extra,
                   check=True, capture_output=True)
    with open(out) as f:
        return json.load(f)


class Units(unittest.TestCase):
    def compare(self, name, flags, units, image=None):
        e = torch.classes.atman.Explainer(model(name))
        prompt = QUESTION
        extra = ["--prompt", prompt, "--target", " red"] + (["--image", image] if image else [])
        want = cli(name, flags, extra)
        got = e.explain(prompt, " red", image_path=image, units=json.dumps(units))
        relevance = [p["relevance"] for p in want["positions"]]
        self.assertEqual(got["relevance"].shape[0], len(relevance))
        # The command runs in another process, with its own threads and batch (issue 28).
        tol = reorder_tolerance(ce_scale(want))
        for a, b in zip(got["relevance"].tolist(), relevance):
            self.assertAlmostEqual(a, b, delta=tol)
        return want

    def test_word_and_delimiter_units(self):
        want = self.compare("text_only.pt", ["--granularity", "word"], {"granularity": "word"})
        self.assertLess(len(want["positions"]), 20)
        self.compare("text_only.pt", ["--granularity", "delimiter", "--delimiter", "is"],
                     {"granularity": "delimiter", "delimiter": "is"})

    def test_coarse_to_fine_and_tiles(self):
        image = os.path.join(ARGS.source_dir, "data/example/shapes.png")
        want = self.compare("image_text.pt", ["--image-search", "coarse-to-fine"], {"image_search": "coarse-to-fine"},
                            image)
        self.assertEqual(sum(p["kind"] == "image" for p in want["positions"]), 144)
        self.compare("image_text.pt", ["--image-granularity", "4"], {"image_granularity": 4}, image)

    def test_bad_units_are_one_line(self):
        e = torch.classes.atman.Explainer(model("text_only.pt"))
        for units, message in [("{", "units: not valid JSON"),
                               ('{"granularity": "letters"}', 'granularity must be token, word'),
                               ('{"tiles": 3}', 'units: unknown key "tiles"'),
                               ('{"target_units": "many"}', 'units: "target_units" must be an integer'),
                               ('{"granularity": "delimiter"}', "needs a non-empty delimiter")]:
            with self.assertRaises(RuntimeError) as caught:
                e.explain(QUESTION, " red", units=units)
            text = str(caught.exception).strip()
            self.assertIn(message, text)
            self.assertNotIn("\n", text)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(ARGS.work_dir, exist_ok=True)
    torch.ops.load_library(ARGS.library)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
