"""Rotary position frequencies of the LLaMA family, from the published
definitions: plain RoPE (theta^(-2j/dh) for pair j of a dh-wide head),
`rope_scaling` type "linear" (positions divided by `factor`, i.e. every
frequency divided by it) and type "llama3" (Llama-3.1/3.2: per frequency by
its wavelength 2*pi/freq, with L = original_max_position_embeddings: a
wavelength below L/high_freq_factor keeps its frequency, one above
L/low_freq_factor is divided by `factor`, and in between the two are blended
with weight s = (L/wavelength - low_freq_factor) / (high_freq_factor -
low_freq_factor): (1 - s) * freq/factor + s * freq). Neither type scales the
cos/sin values themselves.

Usage: scaling = RopeScaling.from_hf(config.get("rope_scaling"), "config.json")   # None: plain
       inv = inverse_frequencies(head_dim, rope_theta, scaling)                   # float64 [dh/2]
       cos, sin = rotary_tables(inv, max_positions)                              # float64 [P, dh]"""
import json
import math

import torch

from .errors import CheckpointError

SUPPORTED = ("linear", "llama3")


class RopeScaling:
    """A config's rope_scaling entry, checked: kind "linear" or "llama3" and its numbers."""

    def __init__(self, kind, factor, low_freq_factor=None, high_freq_factor=None, original_max_positions=None):
        self.kind, self.factor = kind, factor
        self.low_freq_factor, self.high_freq_factor = low_freq_factor, high_freq_factor
        self.original_max_positions = original_max_positions

    @staticmethod
    def from_hf(entry, where):
        """None for plain rotary positions (no entry, or type "default")."""
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise CheckpointError("%s: rope_scaling must be an object or null, got %s" % (where, json.dumps(entry)))
        # transformers reads "rope_type", and the older "type" where it is missing.
        kind = entry.get("rope_type", entry.get("type"))
        if kind == "default":
            return None
        if kind not in SUPPORTED:
            raise CheckpointError("%s: rope_scaling type %s is not supported (supported: %s, or none)"
                                  % (where, json.dumps(kind), ", ".join(SUPPORTED)))

        def number(key, positive=True):
            value = entry.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (positive and value <= 0):
                raise CheckpointError("%s: rope_scaling %s needs a positive number %s, got %s"
                                      % (where, kind, key, json.dumps(value)))
            return float(value)

        factor = number("factor")
        if kind == "linear":
            return RopeScaling(kind, factor)
        low, high = number("low_freq_factor"), number("high_freq_factor")
        if high <= low:
            raise CheckpointError("%s: rope_scaling llama3 needs high_freq_factor > low_freq_factor, got %g and %g"
                                  % (where, high, low))
        return RopeScaling(kind, factor, low, high, number("original_max_position_embeddings"))

    def describe(self):
        if self.kind == "linear":
            return "linear, factor %g" % self.factor
        return "llama3, factor %g, low/high frequency factors %g/%g, original %d positions" % (
            self.factor, self.low_freq_factor, self.high_freq_factor, self.original_max_positions)


def inverse_frequencies(head_dim, theta, scaling=None):
    """float64 [head_dim/2]: the rotation per position of each dimension pair."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    if scaling is None:
        return inv
    if scaling.kind == "linear":
        return inv / scaling.factor
    original = scaling.original_max_positions
    wavelength = 2 * math.pi / inv
    long_limit = original / scaling.low_freq_factor   # longer wavelengths: divided by factor
    short_limit = original / scaling.high_freq_factor  # shorter ones: unchanged
    blend = (original / wavelength - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor)
    blended = (1 - blend) * inv / scaling.factor + blend * inv
    out = torch.where(wavelength > long_limit, inv / scaling.factor, inv)
    between = (wavelength >= short_limit) & (wavelength <= long_limit)
    return torch.where(between, blended, out)


def rotary_tables(inv, max_positions):
    """float64 cos and sin [max_positions, head_dim] in Hugging Face's
    half-split layout (dimension i pairs with i + head_dim/2)."""
    angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()
