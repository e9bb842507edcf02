"""Rotary positions on the first `rot` dimensions of each head, the rest
passed through, in the two published layouts:

  half_split    GPT-NeoX (and LLaMA): dimension i pairs with i + rot/2
  interleaved   GPT-J (rotate_every_two): dimension 2j pairs with 2j+1

Tables are computed in float64 from the inverse frequencies (rope.py's
inverse_frequencies over `rot` dimensions) and stored as float32.

Usage: cos, sin = rotary_tables_for(inv, max_positions, "interleaved")   # float64 [P, rot]
       q = rotate_interleaved(q, cos[start:start+S], sin[start:start+S])"""
import torch
from torch import Tensor


def rotary_tables_for(inv, max_positions, layout):
    """float64 cos and sin [max_positions, 2 * len(inv)] in the layout's order."""
    angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv[None, :]
    if layout == "interleaved":
        angles = torch.repeat_interleave(angles, 2, dim=1)
    else:
        angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half_split(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x [..., S, dh]; cos/sin [S, rot]: (a, b) -> (a cos - b sin, b cos + a sin) on pairs (i, i + rot/2)."""
    rot = cos.size(-1)
    turned, kept = x[..., :rot], x[..., rot:]
    half = rot // 2
    swapped = torch.cat([-turned[..., half:], turned[..., :half]], dim=-1)
    return torch.cat([turned * cos + swapped * sin, kept], dim=-1)


def rotate_interleaved(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x [..., S, dh]; cos/sin [S, rot]: the same rotation on pairs (2j, 2j+1)."""
    rot = cos.size(-1)
    turned, kept = x[..., :rot], x[..., rot:]
    swapped = torch.stack([-turned[..., 1::2], turned[..., 0::2]], dim=-1).flatten(-2)
    return torch.cat([turned * cos + swapped * sin, kept], dim=-1)
