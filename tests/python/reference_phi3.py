#!/usr/bin/python3
"""An independent float64 Phi-3 (Abdin et al. 2024; Hugging Face's
Phi3Config keys) with the AtMan attention of docs/method.md
(reference_llama.atman_attention). Nothing is shared with torchscript_models/.

  per layer: x += o(attn(rms(x))), x += down(silu(gate) * up) of rms(x)
  qkv_proj rows are [q | k | v]; gate_up_proj rows are [gate | up]
  rotary: pair j of the first rot = dh * partial_rotary_factor dimensions
    (half-split) turns by p / (f_j * theta^(2j/rot)), with f the long factors
    when the sequence is longer than original_max_position_embeddings, else
    the short ones (all 1 without rope_scaling); cos and sin are scaled by
    attention_factor (default sqrt(1 + ln(s) / ln(original)),
    s = max_position_embeddings / original, 1 when s <= 1)
  a sliding window on every layer when sliding_window is set

Usage: net = ReferencePhi3(weights, config); net.logits(net.embed_text(ids), modifier [S])"""
import math

import torch

from tests.python.reference_llama import atman_attention, rms_norm, silu

F64 = torch.float64


class ReferencePhi3:
    def __init__(self, weights, config):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config

    def embed_text(self, ids):
        return self.w["model.embed_tokens.weight"][torch.as_tensor(ids, dtype=torch.long)]

    def rotary(self, x, s):
        """x [H, S, dh] rotated for a sequence of S positions."""
        c = self.c
        dh = x.shape[-1]
        rot = int(dh * c.get("partial_rotary_factor", 1.0))
        pairs = rot // 2
        scaling = c.get("rope_scaling")
        factors, attention = [1.0] * pairs, 1.0
        if scaling:
            original = c["original_max_position_embeddings"]
            factors = scaling["long_factor"] if s > original else scaling["short_factor"]
            ratio = c["max_position_embeddings"] / original
            attention = scaling.get("attention_factor") or (
                1.0 if ratio <= 1 else math.sqrt(1 + math.log(ratio) / math.log(original)))
        freq = torch.tensor([1.0 / (factors[j] * c.get("rope_theta", 10000.0) ** (2.0 * j / rot))
                             for j in range(pairs)], dtype=F64)
        angle = torch.arange(s, dtype=F64)[:, None] * freq[None, :]
        cos, sin = torch.cos(angle) * attention, torch.sin(angle) * attention
        a, b = x[..., :pairs], x[..., pairs:rot]
        return torch.cat([a * cos - b * sin, b * cos + a * sin, x[..., rot:]], dim=-1)

    def hidden(self, emb, modifier, min_keys=None, control="multiplicative"):
        c, w = self.c, self.w
        s, d = emb.shape
        heads = c["num_attention_heads"]
        kv = c.get("num_key_value_heads") or heads
        dh = d // heads
        f = c["intermediate_size"]
        eps = c["rms_norm_eps"]
        x = emb.to(F64)
        for i in range(c["num_hidden_layers"]):
            p = "model.layers.%d." % i
            h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            fused = h @ w[p + "self_attn.qkv_proj.weight"].T
            q = fused[:, :heads * dh].reshape(s, heads, dh).transpose(0, 1)
            k = fused[:, heads * dh:(heads + kv) * dh].reshape(s, kv, dh).transpose(0, 1)
            v = fused[:, (heads + kv) * dh:].reshape(s, kv, dh).transpose(0, 1)
            q, k = self.rotary(q, s), self.rotary(k, s)
            att = atman_attention(q, k, v, modifier.to(F64), c.get("sliding_window") or 0, min_keys,
                                  control == "log-additive")
            x = x + att.transpose(0, 1).reshape(s, heads * dh) @ w[p + "self_attn.o_proj.weight"].T
            h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
            gate_up = h @ w[p + "mlp.gate_up_proj.weight"].T
            x = x + (silu(gate_up[:, :f]) * gate_up[:, f:]) @ w[p + "mlp.down_proj.weight"].T
        return rms_norm(x, w["model.norm.weight"], eps)

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        head = self.w["model.embed_tokens.weight"] if self.c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        return self.hidden(emb, modifier, min_keys, control) @ head.T
