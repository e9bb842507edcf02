#!/usr/bin/python3
"""AttnLRP's rules (reference_attnlrp.py's) as explicit float64 relevance
propagation over reference_gemma2.py's network, without autograd and
nothing from torchscript_models/. What Gemma-2 adds to LLaMA's rules:

  norm x / rms(x) * (1 + w)   the division passes R unchanged (identity
                              rule), (1 + w) is a diagonal linear map: R
                              passes through every norm, the sandwich norms
                              after attention and MLP included
  soft-cap c tanh(s / c)      an element-wise activation: identity rule
                              (on the attention scores and on the logits)
  GeGLU gelu(gate) * up       gelu by the identity rule, the product by
                              the uniform rule
  scores q k^T * scale        scale = query_pre_attn_scalar^-1/2; the
                              softmax rule on the capped scores, the
                              uniform rule on the product
Propagation starts from the explained (capped) logit; as in
reference_attnlrp, sum R = logit - bias - softmax (no biases here).

Usage: lrp = Gemma2AttnLrp(reference_gemma2_net); r, logit, ledger = lrp.relevance(emb, row, token)"""
import math

import torch

from tests.python.reference_attnlrp import Ledger, causal, linear_rule, ratio
from tests.python.reference_gemma2 import gemma_norm
from tests.python.reference_gpt import gelu_tanh
from tests.python.reference_llama import rotate


def capped_attention_rule(q, k, v, visible, scale, cap, r_out, ledger):
    """q [H, S, dh], k, v [Hkv, S, dh] after rotary; r_out [H, S, dh] -> R_q, R_k, R_v."""
    group = q.shape[0] // k.shape[0]
    k_h, v_h = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
    raw = q @ k_h.transpose(1, 2) * scale
    capped = cap * torch.tanh(raw / cap) if cap else raw
    probs = torch.softmax(capped.masked_fill(~visible, -math.inf), dim=-1)
    g = ratio(r_out, probs @ v_h)
    r_probs = 0.5 * probs * (g @ v_h.transpose(1, 2))
    r_v = 0.5 * v_h * (probs.transpose(1, 2) @ g)
    x = torch.where(visible, capped, torch.zeros_like(capped))
    r_capped = torch.where(visible, x * (r_probs - probs * r_probs.sum(-1, keepdim=True)), torch.zeros_like(x))
    ledger.softmax += float(r_probs.sum() - r_capped.sum())
    c = ratio(r_capped, raw.masked_fill(~visible, 1.0)) * scale  # the cap: identity rule, R_raw = R_capped
    r_k = 0.5 * k_h * (c.transpose(1, 2) @ q)
    fold = lambda t: t.view(k.shape[0], group, *t.shape[1:]).sum(1)  # noqa: E731
    return 0.5 * q * (c @ k_h), fold(r_k), fold(r_v)


def rotary_rule(x, rotated, r_out):
    """rotated = x cos + rotate_half(x) sin, linear per position (half-split pairs)."""
    s, dh = x.shape[1], x.shape[2]
    half = dh // 2
    j = torch.arange(half, dtype=torch.float64)
    angle = torch.arange(s, dtype=torch.float64)[:, None] * (10000.0 ** (-2.0 * j / dh))[None, :]
    c, sn = angle.cos(), angle.sin()
    g = ratio(r_out, rotated)
    a, b, ga, gb = x[..., :half], x[..., half:], g[..., :half], g[..., half:]
    return torch.cat([a * (ga * c + gb * sn), b * (gb * c - ga * sn)], dim=-1)


class Gemma2AttnLrp:
    def __init__(self, net):
        self.net, self.c, self.w = net, net.c, net.w
        c = self.c
        self.heads, self.kv, self.dh = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        self.eps, self.scale = c["rms_norm_eps"], c["query_pre_attn_scalar"] ** -0.5
        self.cap = c.get("attn_logit_softcapping") or 0.0
        if c.get("rope_theta", 10000.0) != 10000.0:
            raise ValueError("the AttnLRP reference takes rope_theta 10000 only, got %r" % c["rope_theta"])

    def visible(self, s, layer):
        return causal(s, self.net.window(layer))

    def layer_forward(self, x, i):
        s, w, p = x.shape[0], self.w, "model.layers.%d." % i
        lin = lambda t, name: t @ w[p + name + ".weight"].T  # noqa: E731
        a = {"x": x, "h": gemma_norm(x, w[p + "input_layernorm.weight"], self.eps)}
        a["raw_q"] = lin(a["h"], "self_attn.q_proj").view(s, self.heads, self.dh).transpose(0, 1)
        a["raw_k"] = lin(a["h"], "self_attn.k_proj").view(s, self.kv, self.dh).transpose(0, 1)
        a["v"] = lin(a["h"], "self_attn.v_proj").view(s, self.kv, self.dh).transpose(0, 1)
        pos = torch.arange(s)
        a["q"], a["k"] = rotate(a["raw_q"], pos, 10000.0, "half_split"), rotate(a["raw_k"], pos, 10000.0, "half_split")
        group = self.heads // self.kv
        raw = a["q"] @ a["k"].repeat_interleave(group, 0).transpose(1, 2) * self.scale
        capped = self.cap * torch.tanh(raw / self.cap) if self.cap else raw
        probs = torch.softmax(capped.masked_fill(~self.visible(s, i), -math.inf), -1)
        a["attended"] = (probs @ a["v"].repeat_interleave(group, 0)).transpose(0, 1).reshape(s, -1)
        a["o"] = lin(a["attended"], "self_attn.o_proj")
        a["mid"] = x + gemma_norm(a["o"], w[p + "post_attention_layernorm.weight"], self.eps)
        a["h2"] = gemma_norm(a["mid"], w[p + "pre_feedforward_layernorm.weight"], self.eps)
        a["gate"], a["up"] = lin(a["h2"], "mlp.gate_proj"), lin(a["h2"], "mlp.up_proj")
        a["product"] = gelu_tanh(a["gate"]) * a["up"]
        a["out"] = a["mid"] + gemma_norm(lin(a["product"], "mlp.down_proj"), w[p + "post_feedforward_layernorm.weight"],
                                         self.eps)
        return a

    def layer_rule(self, a, i, r_out, ledger):
        s, w, p = a["x"].shape[0], self.w, "model.layers.%d." % i
        rule = lambda t, name, r: linear_rule(t, w[p + name + ".weight"], None, r, ledger)  # noqa: E731
        q_out = ratio(r_out, a["out"])  # out = mid + post_ff_norm(mlp): the norm passes R to the MLP's output
        r_product = rule(a["product"], "mlp.down_proj", (a["out"] - a["mid"]) * q_out)
        r_h2 = rule(a["h2"], "mlp.gate_proj", 0.5 * r_product) + rule(a["h2"], "mlp.up_proj", 0.5 * r_product)
        r_mid = a["mid"] * q_out + r_h2
        q_mid = ratio(r_mid, a["mid"])
        r_attended = rule(a["attended"], "self_attn.o_proj", (a["mid"] - a["x"]) * q_mid)
        r_q, r_k, r_v = capped_attention_rule(a["q"], a["k"], a["v"], self.visible(s, i), self.scale, self.cap,
                                              r_attended.view(s, self.heads, self.dh).transpose(0, 1), ledger)
        r_q, r_k = rotary_rule(a["raw_q"], a["q"], r_q), rotary_rule(a["raw_k"], a["k"], r_k)
        flat = lambda t: t.transpose(0, 1).reshape(s, -1)  # noqa: E731
        r_h = rule(a["h"], "self_attn.q_proj", flat(r_q)) + rule(a["h"], "self_attn.k_proj", flat(r_k)) + \
            rule(a["h"], "self_attn.v_proj", flat(r_v))
        return a["x"] * q_mid + r_h

    def relevance(self, emb, row, token):
        layers, x = [], emb
        for i in range(self.c["num_hidden_layers"]):
            layers.append(self.layer_forward(x, i))
            x = layers[-1]["out"]
        final = gemma_norm(x, self.w["model.norm.weight"], self.eps)
        head = self.w["model.embed_tokens.weight"] if self.c.get("tie_word_embeddings", True) \
            else self.w["lm_head.weight"]
        z = float(final[row] @ head[token])
        cap = self.c.get("final_logit_softcapping") or 0.0
        logit = cap * math.tanh(z / cap) if cap else z
        r = torch.zeros_like(final)
        r[row] = final[row] * head[token] * (logit / z)  # the cap: identity rule; the final norm passes R
        ledger = Ledger()
        for i in reversed(range(len(layers))):
            r = self.layer_rule(layers[i], i, r, ledger)
        return r, logit, ledger
