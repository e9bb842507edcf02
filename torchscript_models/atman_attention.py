"""The one attention manipulation of docs/method.md, shared by
every architecture (tiny_magma.py, importers/llama.py): call it in each layer
rather than writing it again.

Usage: out, probs = manipulated_attention(q, k, v, modifier, query_offset)
       q [B,H,Sq,dh], k/v [B,Hkv,Sk,dh] (Hkv divides H), modifier [B,Sk]."""
import math
from typing import Tuple

import torch
from torch import Tensor


def manipulated_attention(q: Tensor, k: Tensor, v: Tensor, modifier: Tensor,
                          query_offset: int, sliding_window: int = 0) -> Tuple[Tensor, Tensor]:
    """AtMan attention. q [B,H,Sq,dh] are the queries of positions
    query_offset .. query_offset+Sq-1; k, v [B,Hkv,Sk,dh] are the keys and
    values of positions 0 .. Sk-1, Hkv dividing H (grouped-query attention:
    query head h reads key-value head h // (H / Hkv), as Hugging Face's
    repeat_kv); modifier [B,Sk] is one factor per key position, the same for
    every head.
    H' = (H - min_j H) * m[k], the minimum over all Sk keys; then the causal
    mask and, when sliding_window > 0, the window's mask (a query sees the
    sliding_window keys up to and including itself, as Hugging Face's eager
    Mistral attention); then softmax.
    Returns (output [B,H,Sq,dh], probabilities [B,H,Sq,Sk])."""
    b, heads, sq, dh = q.size(0), q.size(1), q.size(2), q.size(3)
    kv_heads, sk = k.size(1), k.size(2)
    scale = 1.0 / math.sqrt(dh)
    group = heads // kv_heads
    if group == 1:
        scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    else:
        # The query heads of one group share a key head: stack their rows so
        # the keys are never copied H / Hkv times.
        grouped = q.reshape(b, kv_heads, group * sq, dh)
        scores = (torch.matmul(grouped, k.transpose(-1, -2)) * scale).view(b, heads, sq, sk)
    scores = (scores - scores.amin(dim=-1, keepdim=True)) * modifier[:, None, None, :]
    query_pos = torch.arange(sq, device=q.device)[:, None] + query_offset
    key_pos = torch.arange(sk, device=q.device)[None, :]
    hidden = key_pos > query_pos
    if sliding_window > 0:
        hidden = hidden | (key_pos <= query_pos - sliding_window)
    scores = scores.masked_fill(hidden, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if group == 1:
        return torch.matmul(probs, v), probs
    out = torch.matmul(probs.view(b, kv_heads, group * sq, sk), v).view(b, heads, sq, dh)
    return out, probs
