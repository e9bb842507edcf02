#!/usr/bin/python3
"""An independent float64 Gemma-2 (Gemma Team 2024; Hugging Face's
Gemma2Config keys) with AtMan's attention placed as DESIGN section 1 says:
on the scores that enter the softmax, i.e. after the soft-cap, before the
causal and window masks. Nothing is shared with torchscript_models/.

  h0 = embed[id] * sqrt(D)                       (embed_text returns this)
  norm(x) = x / sqrt(mean(x^2) + eps) * (1 + w)
  x += post_attention_layernorm(attn(input_layernorm x))
  x += post_feedforward_layernorm(down(gelu_tanh(gate h) * up h)),  h = pre_feedforward_layernorm x
  attn: rotary (half-split, rope_theta) on q and k; H = q k^T / sqrt(query_pre_attn_scalar);
        H = cap tanh(H / cap); H' = (H - min_j H) * m[k]  (log-additive: H + log m[k]);
        causal mask, and on the sliding layers (even ones, or layer_types) keys before the window;
        softmax; grouped-query heads share key-value heads
  logits = cap_f tanh((norm(x) E^T) / cap_f)

Usage: net = ReferenceGemma2(weights, config); net.logits(net.embed_text(ids), modifier [S])"""
import math

import torch

from tests.python.reference_gpt import gelu_tanh
from tests.python.reference_llama import rotate

F64 = torch.float64


def gemma_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * (1 + weight)


def capped_atman_attention(q, k, v, modifier, scale, cap, window, min_keys=None, log_additive=False):
    """q [H, S, dh], k, v [Hkv, S, dh]; min_keys as reference_llama.atman_attention's."""
    heads, s, _ = q.shape
    group = heads // k.shape[0]
    qpos, kpos = torch.arange(s)[:, None], torch.arange(s)[None, :]
    hidden = kpos > qpos
    if window:
        hidden = hidden | (kpos <= qpos - window)
    limit = torch.full((s,), s) if min_keys is None else torch.as_tensor(min_keys)
    seen = kpos < limit[:, None]
    out = torch.empty_like(q)
    for h in range(heads):
        scores = q[h] @ k[h // group].T * scale
        if cap:
            scores = cap * torch.tanh(scores / cap)
        if log_additive:
            scores = (scores + torch.log(modifier)[None, :]).masked_fill(hidden, -math.inf)
            alive = torch.isfinite(scores).any(dim=-1, keepdim=True)
            weights = torch.softmax(torch.where(alive, scores, torch.zeros_like(scores)), dim=-1)
            out[h] = torch.where(alive, weights, torch.zeros_like(weights)) @ v[h // group]
            continue
        row_min = torch.where(seen, scores, torch.full_like(scores, math.inf)).min(dim=-1, keepdim=True).values
        scores = ((scores - row_min) * modifier[None, :]).masked_fill(hidden, -math.inf)
        out[h] = torch.softmax(scores, dim=-1) @ v[h // group]
    return out


class ReferenceGemma2:
    def __init__(self, weights, config):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config

    def embed_text(self, ids):
        return self.w["model.embed_tokens.weight"][torch.as_tensor(ids, dtype=torch.long)] * math.sqrt(
            self.c["hidden_size"])

    def window(self, layer):
        c = self.c
        if not c.get("sliding_window"):
            return 0
        types = c.get("layer_types")
        sliding = types[layer] == "sliding_attention" if types else layer % 2 == 0
        return c["sliding_window"] if sliding else 0

    def hidden(self, emb, modifier, min_keys=None, control="multiplicative"):
        c, w = self.c, self.w
        s = emb.shape[0]
        heads, kv, dh = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        eps = c["rms_norm_eps"]
        scale = c["query_pre_attn_scalar"] ** -0.5
        cap = c.get("attn_logit_softcapping") or 0.0
        pos = torch.arange(s)
        x = emb.to(F64)
        lin = lambda t, name: t @ w[name + ".weight"].T  # noqa: E731
        for i in range(c["num_hidden_layers"]):
            p = "model.layers.%d." % i
            h = gemma_norm(x, w[p + "input_layernorm.weight"], eps)
            q = lin(h, p + "self_attn.q_proj").view(s, heads, dh).transpose(0, 1)
            k = lin(h, p + "self_attn.k_proj").view(s, kv, dh).transpose(0, 1)
            v = lin(h, p + "self_attn.v_proj").view(s, kv, dh).transpose(0, 1)
            q = rotate(q, pos, c.get("rope_theta", 10000.0), "half_split")
            k = rotate(k, pos, c.get("rope_theta", 10000.0), "half_split")
            att = capped_atman_attention(q, k, v, modifier.to(F64), scale, cap, self.window(i), min_keys,
                                         control == "log-additive")
            att = lin(att.transpose(0, 1).reshape(s, heads * dh), p + "self_attn.o_proj")
            x = x + gemma_norm(att, w[p + "post_attention_layernorm.weight"], eps)
            h = gemma_norm(x, w[p + "pre_feedforward_layernorm.weight"], eps)
            m = lin(gelu_tanh(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
            x = x + gemma_norm(m, w[p + "post_feedforward_layernorm.weight"], eps)
        return gemma_norm(x, w["model.norm.weight"], eps)

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        head = self.w["model.embed_tokens.weight"] if self.c.get("tie_word_embeddings", True) \
            else self.w["lm_head.weight"]
        z = self.hidden(emb, modifier, min_keys, control) @ head.T
        cap = self.c.get("final_logit_softcapping") or 0.0
        return cap * torch.tanh(z / cap) if cap else z
