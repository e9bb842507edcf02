"""Tolerances for comparing two float32 computations of one quantity that
differ only in the order of their sums: another process's thread count or
batch layout, another BLAS path (docs/reliability.md promises the same bits
only for the same input, threads and batch). The C++ tests use the same rule
(tests/test_util.h, float32_reorder_tolerance).

64 float32 units in the last place (2^-23 each) at the scale of the summed
terms: reorderings observed here move such values by at most 8 ULPs, and the
tests look for errors of 1e-4 and more.

Usage: tol = reorder_tolerance(ce_scale(doc))   # doc: `atman explain --json`'s document
       checks.check("ops = command", diff <= tol, ...)"""

ULP = 2.0 ** -23
REORDER_ULPS = 64


def reorder_tolerance(scale):
    """64 ULPs of float32 at max(1, |scale|)."""
    return REORDER_ULPS * ULP * max(1.0, abs(scale))


def ce_scale(doc):
    """The largest cross-entropy a relevance of `doc` is a difference of:
    the clean CE of a target plus the largest |R| of that target."""
    scale = 0.0
    for t, target in enumerate(doc["targets"]):
        largest = max((abs(p["per_target"][t]) for p in doc["positions"]), default=0.0)
        scale = max(scale, abs(target["ce"]) + largest)
    return scale
