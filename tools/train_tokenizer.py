#!/usr/bin/python3
"""Trains the tiny-magma sentencepiece tokenizer on the benchmark task text
(every vocabulary word in each template, the questions, punctuation).

Usage: tools/train_tokenizer.py --out torchscript_models/tokenizer.model"""
import argparse
import os
import tempfile

import numpy as np
import sentencepiece as spm

from benchdata import facts, shapes
from benchdata.vocab import load_vocab


def corpus_lines(vocab, rng, count):
    template = "Question: {} Answer:"
    words = [w for key in ("names", "cities", "jobs", "foods", "shapes") for w in vocab[key]]
    words += list(vocab["colors"]) + ["Question", "Answer", "What", "Where", "does", "live",
                                      "job", "like", "color", "shape", "object", "works", "lives",
                                      "is", "the", "in", "of", "as", "a"]
    for _ in range(50):  # every word often enough to become one piece
        yield " ".join(words)
        yield ". ".join(words) + "?"
    for shape in shapes.SHAPES:
        for color in shapes.COLOR_NAMES:
            yield template.format("What color is the {}?".format(shape)) + " " + color
            yield template.format("What shape is the {} object?".format(color)) + " " + shape
    for relation, key in (("lives", "cities"), ("job", "jobs"), ("likes", "foods")):
        for name in vocab["names"]:
            for value in vocab[key]:
                yield facts.sentence(name, relation, value) + " " + facts.question(name, relation) + " Answer: " + value
    for _ in range(count):
        item = facts.make_item(rng, vocab)
        yield item["prompt"] + " " + item["answer"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="path of the .model file to write")
    parser.add_argument("--vocab-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    vocab = load_vocab()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "corpus.txt")
        with open(text, "w") as f:
            for line in corpus_lines(vocab, rng, 20000):
                f.write(line + "\n")
        prefix = os.path.join(tmp, "tok")
        spm.SentencePieceTrainer.train(
            input=text, model_prefix=prefix, vocab_size=args.vocab_size, model_type="unigram",
            character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            input_sentence_size=0, shuffle_input_sentence=False, num_threads=1,
            minloglevel=2)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(prefix + ".model", "rb") as src, open(args.out, "wb") as dst:
            dst.write(src.read())
    sp = spm.SentencePieceProcessor(model_file=args.out)
    print("wrote {} ({} pieces)".format(args.out, sp.get_piece_size()))


if __name__ == "__main__":
    main()
