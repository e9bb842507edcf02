"""The attention of every architecture (tiny_magma.py, importers/llama.py,
gpt2.py, gptj.py, gpt_neox.py, gemma2.py, phi3.py):
AtMan's manipulation of docs/method.md under either control, and AttnLRP's
attention for forward_lrp (docs/optional_methods.md). Call these in each
layer rather than writing them again.

Usage: out, probs = manipulated_attention(q, k, v, modifier, query_offset)
       out, probs = manipulated_attention(q, k, v, bias, query_offset, log_additive=True)
       out = lrp_attention(q, k, v)
       out, probs = manipulated_attention(q, k, v, modifier, query_offset, window, False, scale, softcap)  (Gemma-2)
       q [B,H,Sq,dh], k/v [B,Hkv,Sk,dh] (Hkv divides H), modifier/bias [B,Sk]."""
import math
from typing import Tuple

import torch
from torch import Tensor

from .lrp_rules import identity_softcap, uniform_matmul


def manipulated_attention(q: Tensor, k: Tensor, v: Tensor, modifier: Tensor,
                          query_offset: int, sliding_window: int = 0,
                          log_additive: bool = False, scale: float = 0.0,
                          softcap: float = 0.0) -> Tuple[Tensor, Tensor]:
    """AtMan attention. q [B,H,Sq,dh] are the queries of positions
    query_offset .. query_offset+Sq-1; k, v [B,Hkv,Sk,dh] are the keys and
    values of positions 0 .. Sk-1, Hkv dividing H (grouped-query attention:
    query head h reads key-value head h // (H / Hkv), as Hugging Face's
    repeat_kv); modifier [B,Sk] is one value per key position, the same for
    every head.
    Multiplicative control (the default): modifier holds the factors m and
    H' = (H - min_j H) * m[k], the minimum over all Sk keys. Log-additive
    control (log_additive): modifier holds the bias log m (-inf removes a
    key) and H' = H + bias[k]; a query row left with no key gets a zero
    output. Then the causal mask and, when sliding_window > 0, the window's
    mask (a query sees the sliding_window keys up to and including itself,
    as Hugging Face's eager Mistral attention); then softmax.
    The raw scores H are QK^T * scale (scale 0: 1/sqrt(dh)), soft-capped to
    softcap * tanh(H / softcap) when softcap > 0 (Gemma-2): the modification
    acts on the scores that enter the softmax, after the cap.
    Returns (output [B,H,Sq,dh], probabilities [B,H,Sq,Sk])."""
    b, heads, sq, dh = q.size(0), q.size(1), q.size(2), q.size(3)
    kv_heads, sk = k.size(1), k.size(2)
    if scale <= 0.0:
        scale = 1.0 / math.sqrt(dh)
    group = heads // kv_heads
    if group == 1:
        scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    else:
        # The query heads of one group share a key head: stack their rows so
        # the keys are never copied H / Hkv times.
        grouped = q.reshape(b, kv_heads, group * sq, dh)
        scores = (torch.matmul(grouped, k.transpose(-1, -2)) * scale).view(b, heads, sq, sk)
    if softcap > 0.0:
        scores = torch.tanh(scores / softcap) * softcap
    if log_additive:
        scores = scores + modifier[:, None, None, :]
    else:
        scores = (scores - scores.amin(dim=-1, keepdim=True)) * modifier[:, None, None, :]
    scores = scores.masked_fill(hidden_keys(sq, sk, query_offset, sliding_window, q.device), float("-inf"))
    if log_additive and bool(torch.isinf(modifier).any()):
        probs = softmax_or_zero(scores)
    else:
        probs = torch.softmax(scores, dim=-1)
    if group == 1:
        return torch.matmul(probs, v), probs
    out = torch.matmul(probs.view(b, kv_heads, group * sq, sk), v).view(b, heads, sq, dh)
    return out, probs


def lrp_attention(q: Tensor, k: Tensor, v: Tensor, sliding_window: int = 0, scale: float = 0.0,
                  softcap: float = 0.0) -> Tensor:
    """The plain causal attention of positions 0..S-1 (no AtMan
    modification) written for AttnLRP (arXiv 2402.05602): the two matrix
    products follow the uniform rule (each factor gets half the relevance),
    the softmax is left as it is (Input x Gradient through a softmax is the
    paper's softmax rule); a soft-cap (Gemma-2) is an element-wise
    activation: the identity rule. q [B,H,S,dh], k, v [B,Hkv,S,dh]; scale
    and softcap as manipulated_attention's. Returns [B,H,S,dh]."""
    b, heads, s, dh = q.size(0), q.size(1), q.size(2), q.size(3)
    kv_heads = k.size(1)
    group = heads // kv_heads
    if scale <= 0.0:
        scale = 1.0 / math.sqrt(dh)
    scores = uniform_matmul(q.reshape(b, kv_heads, group * s, dh), k.transpose(-1, -2)).view(b, heads, s, s)
    scores = scores * scale
    if softcap > 0.0:
        scores = identity_softcap(scores, softcap)
    scores = scores.masked_fill(hidden_keys(s, s, 0, sliding_window, q.device), float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return uniform_matmul(probs.view(b, kv_heads, group * s, s), v).view(b, heads, s, dh)


def hidden_keys(sq: int, sk: int, query_offset: int, sliding_window: int, device: torch.device) -> Tensor:
    """[Sq, Sk] true where a query may not see a key: the causal mask and,
    with sliding_window > 0, the keys before the window."""
    query_pos = torch.arange(sq, device=device)[:, None] + query_offset
    key_pos = torch.arange(sk, device=device)[None, :]
    hidden = key_pos > query_pos
    if sliding_window > 0:
        hidden = hidden | (key_pos <= query_pos - sliding_window)
    return hidden


def softmax_or_zero(scores: Tensor) -> Tensor:
    """softmax over the last dimension, with rows whose every score is -inf
    (every key removed or hidden) all zero instead of NaN."""
    empty = scores.amax(dim=-1, keepdim=True) == float("-inf")
    return torch.softmax(scores.masked_fill(empty, 0.0), dim=-1).masked_fill(empty, 0.0)
