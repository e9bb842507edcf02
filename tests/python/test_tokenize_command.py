#!/usr/bin/python3
"""`atman tokenize` against python3-sentencepiece on the tokenizer.model that
the test models carry: --text and --jsonl give encode(text) with no BOS,
--question and --prompt the prompt ids `atman explain` builds ([bos] +
encode(template filled)), with the image's place for an image-text model;
--json documents and the plain table.

Usage (ctest runs it): test_tokenize_command.py --atman build/atman --models build/test_models
        --work-dir build/python_tokenize"""

import argparse
import json
import os
import subprocess
import sys

import sentencepiece as spm
import torch

from tests.python.check_log import Checks

TEXTS = ["", " red", "What color is the circle?", "  two  spaces\nand a line", "café 42 x+y=z", "<s> is text here"]


def load(path):
    extra = {"atman/config.json": "", "atman/tokenizer.model": ""}
    torch.jit.load(path, _extra_files=extra)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])
    return json.loads(extra["atman/config.json"]), sp


def tokenize(atman, model, *args):
    proc = subprocess.run([atman, "tokenize", "--model", model] + list(args), capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr.strip()


def check_text(checks, atman, model, sp):
    for text in TEXTS:
        code, out, err = tokenize(atman, model, "--text", text, "--json")
        want = sp.encode(text)
        got = json.loads(out) if code == 0 else {}
        checks.check("--text %r: ids = sentencepiece's, no BOS" % text,
                     got.get("ids") == want and got.get("pieces") == [sp.id_to_piece(i) for i in want], err)
    code, out, _ = tokenize(atman, model, "--text", " red")
    rows = [line.split() for line in out.splitlines()]
    want = sp.encode(" red")
    checks.check("--text plain: one line per token (id, piece)",
                 code == 0 and [r[:2] for r in rows] == [[str(i), sp.id_to_piece(i)] for i in want], out)


def check_jsonl(checks, atman, model, sp, work):
    path = os.path.join(work, "lines.jsonl")
    with open(path, "w") as f:
        for text in TEXTS:
            f.write(json.dumps(text) + "\n")
    code, out, err = tokenize(atman, model, "--jsonl", path, "--json")
    got = [json.loads(line)["ids"] for line in out.splitlines()] if code == 0 else []
    checks.check("--jsonl --json: one document per line, ids = sentencepiece's", got == [sp.encode(t) for t in TEXTS],
                 err)
    code, out, err = tokenize(atman, model, "--jsonl", path)
    got = [[int(x) for x in line.split()] for line in out.split("\n")[:-1]] if code == 0 else []
    checks.check("--jsonl plain: the ids of each line on its own line", got == [sp.encode(t) for t in TEXTS], err)


def check_prompt(checks, atman, model, config, sp, name):
    question = "What color is the circle?"
    code, out, err = tokenize(atman, model, "--question", question, "--json")
    doc = json.loads(out) if code == 0 else {}
    template = config["prompt_template"]
    before, _, after = template.partition("{image}") if "{image}" in template else ("", None, template)
    ids = ([config["bos_id"]] if config["add_bos"] else [])
    ids += sp.encode(before.replace("{question}", question)) if before else []
    image_index = len(ids) if "{image}" in template else 0
    ids += sp.encode(after.replace("{question}", question)) if after else []
    image = config["image"]
    ok = doc.get("ids") == ids and doc.get("prompt") == template.replace("{question}", question)
    if image:
        patches = image["grid"][0] * image["grid"][1]
        ok = ok and doc.get("image_index") == image_index and doc.get("image_positions") == patches
        ok = ok and doc.get("length") == len(ids) + patches
    else:
        ok = ok and "image_index" not in doc and doc.get("length") == len(ids)
    checks.check("%s: --question = [bos] + the filled template, the image's place" % name, ok, err or out[:200])
    code, out, err = tokenize(atman, model, "--prompt", template.replace("{question}", question), "--json")
    checks.check("%s: --prompt of the filled template = --question" % name,
                 code == 0 and json.loads(out)["ids"] == ids, err)
    if image:
        code, out, err = tokenize(atman, model, "--question", question)
        lines = out.splitlines()
        at = lines.index("[image: %d positions]" % patches) if code == 0 else -1
        checks.check("%s: plain table shows the image's positions in their place" % name,
                     at == image_index and len(lines) == len(ids) + 1, out[:200])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--atman", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--work-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    checks = Checks()
    for name in ("text_only.pt", "image_text.pt"):
        model = os.path.join(args.models, name)
        config, sp = load(model)
        if name == "text_only.pt":
            check_text(checks, args.atman, model, sp)
            check_jsonl(checks, args.atman, model, sp, args.work_dir)
        check_prompt(checks, args.atman, model, config, sp, name)
    print("%d checks, %d failed" % (checks.count, len(checks.failed)))
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
