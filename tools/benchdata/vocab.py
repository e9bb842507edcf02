"""Finds and loads the benchmark vocabulary (shared/benchmarks/vocab.json)."""
import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = [
    os.path.join(_HERE, "..", "..", "data", "vocab.json"),            # committed copy
    os.path.join(_HERE, "..", "..", "..", "shared", "benchmarks", "vocab.json"),
]


def load_vocab(path=None):
    for candidate in ([path] if path else _CANDIDATES):
        if candidate and os.path.exists(candidate):
            with open(candidate) as f:
                return json.load(f)
    raise FileNotFoundError("vocab.json not found in " + ", ".join(_CANDIDATES))
