#!/usr/bin/python3
"""AttnLRP's rules (reference_attnlrp.py's, from arXiv 2402.05602) as
explicit float64 relevance propagation over reference_gpt.py's GPT-2,
GPT-NeoX and GPT-J networks: no autograd and nothing from torchscript_models/.
It checks the imported models' forward_lrp (Input x Gradient through it is
`atman explain --method attnlrp`).

Beyond reference_attnlrp.py's rules (linear LRP-0, the uniform rule for the
two attention products, the softmax rule, identity for activations and for
LayerNorm's division): a fused q/k/v projection is one linear layer; rotary
positions are a linear map per position on their first `rot` dimensions
(half-split or interleaved pairs); a residual sum splits by contribution
(a / z * R_z); GPT-2's input x0 = wte[id] + wpe[p] splits the same way, the
position row's share absorbed like a bias.

Usage: lrp = GptAttnLrp(reference_gpt_net, "gpt2" | "neox" | "gptj")
       reference_attnlrp.explain(adapter, prompt, target, lrp=lrp)"""
import math

import torch

from tests.python.reference_attnlrp import Ledger, attention_rule, causal, linear_rule, ratio
from tests.python.reference_gpt import ACTIVATIONS, partial_rotate
from tests.python.reference_llama import layer_norm


def layer_norm_rule(x, weight, bias, eps, r_out, ledger):
    """The affine part is linear with a bias, the division by the standard
    deviation passes R unchanged, the mean's subtraction is a linear map."""
    centred = x - x.mean(-1, keepdim=True)
    normed = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
    q = ratio(r_out, normed * weight + bias)
    ledger.bias += float((q * bias).sum())
    c = ratio(normed * weight * q, centred)
    return x * (c - c.mean(-1, keepdim=True))


def rotary_rule(x, rotated, rot, layout, r_out, theta):
    """rotated = R(p) x on the first rot dimensions (identity on the rest)."""
    g = ratio(r_out, rotated)
    s = x.shape[1]
    j = torch.arange(rot // 2, dtype=torch.float64)
    angle = torch.arange(s, dtype=torch.float64)[:, None] * (theta ** (-2.0 * j / rot))[None, :]
    c, sn = angle.cos(), angle.sin()
    out = x * g  # the passed-through dimensions keep theirs
    if layout == "half_split":
        ia, ib = torch.arange(rot // 2), torch.arange(rot // 2) + rot // 2
    else:
        ia, ib = torch.arange(0, rot, 2), torch.arange(1, rot, 2)
    a, b, ga, gb = x[..., ia], x[..., ib], g[..., ia], g[..., ib]
    # (a, b) -> (a c - b s, b c + a s): each input's share of each output.
    out[..., ia] = a * (ga * c + gb * sn)
    out[..., ib] = b * (gb * c - ga * sn)
    return out


class GptAttnLrp:
    """The rules over one of reference_gpt.py's networks."""

    def __init__(self, net, family):
        self.net, self.c, self.w, self.family = net, net.c, net.w, family
        c = self.c
        if family == "gpt2":
            self.heads, self.layers, self.eps = c["n_head"], c["n_layer"], c.get("layer_norm_epsilon", 1e-5)
            self.act, self.rot, self.layout = c.get("activation_function", "gelu_new"), 0, None
        elif family == "neox":
            self.heads, self.layers, self.eps = c["num_attention_heads"], c["num_hidden_layers"], \
                c.get("layer_norm_eps", 1e-5)
            self.act, self.layout = c.get("hidden_act", "gelu"), "half_split"
        else:
            self.heads, self.layers, self.eps = c["n_head"], c["n_layer"], c.get("layer_norm_epsilon", 1e-5)
            self.act, self.layout = c.get("activation_function", "gelu_new"), "interleaved"
        self.theta = c.get("rope_theta", c.get("rotary_emb_base", 10000.0)) if family == "neox" else 10000.0

    # ----- the weights of layer i, as nn.Linear-style (out, in) matrices
    def parts(self, i, d):
        w, dh = self.w, d // self.heads
        if self.family == "gpt2":
            p = "transformer.h.%d." % i
            t = lambda name: (w[p + name + ".weight"].T, w[p + name + ".bias"])  # noqa: E731  Conv1D: [in, out]
            return dict(ln1=p + "ln_1", ln2=p + "ln_2", qkv=t("attn.c_attn"), out=t("attn.c_proj"),
                        fc_in=t("mlp.c_fc"), fc_out=t("mlp.c_proj"), parallel=False, per_head=False)
        if self.family == "neox":
            p = "gpt_neox.layers.%d." % i
            t = lambda name: (w[p + name + ".weight"], w.get(p + name + ".bias"))  # noqa: E731
            self.rot = int(dh * self.c.get("rotary_pct", self.c.get("partial_rotary_factor", 0.25)))
            return dict(ln1=p + "input_layernorm", ln2=p + "post_attention_layernorm",
                        qkv=t("attention.query_key_value"), out=t("attention.dense"), fc_in=t("mlp.dense_h_to_4h"),
                        fc_out=t("mlp.dense_4h_to_h"), parallel=self.c.get("use_parallel_residual", True),
                        per_head=True)
        p = "transformer.h.%d." % i
        self.rot = self.c.get("rotary_dim") or dh
        qkv = torch.cat([w[p + "attn.%s_proj.weight" % n] for n in "qkv"])
        return dict(ln1=p + "ln_1", ln2=None, qkv=(qkv, None), out=(w[p + "attn.out_proj.weight"], None),
                    fc_in=(w[p + "mlp.fc_in.weight"], w[p + "mlp.fc_in.bias"]),
                    fc_out=(w[p + "mlp.fc_out.weight"], w[p + "mlp.fc_out.bias"]), parallel=True, per_head=False)

    def ln(self, x, name):
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def split(self, fused, per_head, s, d):
        """[S, 3D] -> q, k, v [H, S, dh]: per head [q | k | v] (NeoX) or q | k | v over D (GPT-2, GPT-J)."""
        dh = d // self.heads
        if per_head:
            t = fused.view(s, self.heads, 3 * dh).transpose(0, 1)
            return t[..., :dh], t[..., dh:2 * dh], t[..., 2 * dh:]
        return tuple(fused[:, j * d:(j + 1) * d].reshape(s, self.heads, dh).transpose(0, 1) for j in range(3))

    def merge(self, r_q, r_k, r_v, per_head, s, d):
        if per_head:
            return torch.cat([r_q, r_k, r_v], dim=-1).transpose(0, 1).reshape(s, 3 * d)
        return torch.cat([t.transpose(0, 1).reshape(s, d) for t in (r_q, r_k, r_v)], dim=-1)

    def layer_forward(self, x, i):
        s, d = x.shape
        p = self.parts(i, d)
        a = {"x": x, "p": p, "h": self.ln(x, p["ln1"])}
        weight, bias = p["qkv"]
        fused = a["h"] @ weight.T + (bias if bias is not None else 0.0)
        a["raw_q"], a["raw_k"], a["v"] = self.split(fused, p["per_head"], s, d)
        a["q"], a["k"] = a["raw_q"], a["raw_k"]
        if self.layout:
            a["q"] = partial_rotate(a["raw_q"], self.rot, self.layout, self.theta)
            a["k"] = partial_rotate(a["raw_k"], self.rot, self.layout, self.theta)
        dh = d // self.heads
        scores = (a["q"] @ a["k"].transpose(1, 2) / math.sqrt(dh)).masked_fill(~causal(s), -math.inf)
        a["attended"] = (torch.softmax(scores, -1) @ a["v"]).transpose(0, 1).reshape(s, d)
        a["A"] = a["attended"] @ p["out"][0].T + (p["out"][1] if p["out"][1] is not None else 0.0)
        a["mid"] = x if p["parallel"] else x + a["A"]
        a["h2"] = a["h"] if p["ln2"] is None else self.ln(a["mid"], p["ln2"])
        a["u"] = a["h2"] @ p["fc_in"][0].T + p["fc_in"][1]
        a["act"] = ACTIVATIONS[self.act](a["u"])
        a["M"] = a["act"] @ p["fc_out"][0].T + p["fc_out"][1]
        a["out"] = (x + a["A"] + a["M"]) if p["parallel"] else a["mid"] + a["M"]
        return a

    def layer_rule(self, a, r_out, ledger):
        p, x = a["p"], a["x"]
        s, d = x.shape
        q_out = ratio(r_out, a["out"])
        r_act = linear_rule(a["act"], *p["fc_out"], a["M"] * q_out, ledger)
        r_h2 = linear_rule(a["h2"], *p["fc_in"], r_act, ledger)  # the activation: identity rule
        if p["parallel"]:
            r_x, r_attn_out = x * q_out, a["A"] * q_out
            r_h = r_h2 if p["ln2"] is None else 0.0
            if p["ln2"] is not None:
                r_x = r_x + layer_norm_rule(x, self.w[p["ln2"] + ".weight"], self.w[p["ln2"] + ".bias"], self.eps,
                                            r_h2, ledger)
        else:
            r_mid = a["mid"] * q_out + layer_norm_rule(a["mid"], self.w[p["ln2"] + ".weight"],
                                                       self.w[p["ln2"] + ".bias"], self.eps, r_h2, ledger)
            q_mid = ratio(r_mid, a["mid"])
            r_x, r_attn_out, r_h = x * q_mid, a["A"] * q_mid, 0.0
        r_attended = linear_rule(a["attended"], *p["out"], r_attn_out, ledger)
        dh = d // self.heads
        r_q, r_k, r_v = attention_rule(a["q"], a["k"], a["v"], causal(s),
                                       r_attended.view(s, self.heads, dh).transpose(0, 1), ledger)
        if self.layout:
            r_q = rotary_rule(a["raw_q"], a["q"], self.rot, self.layout, r_q, self.theta)
            r_k = rotary_rule(a["raw_k"], a["k"], self.rot, self.layout, r_k, self.theta)
        r_h = r_h + linear_rule(a["h"], *p["qkv"], self.merge(r_q, r_k, r_v, p["per_head"], s, d), ledger)
        return r_x + layer_norm_rule(x, self.w[p["ln1"] + ".weight"], self.w[p["ln1"] + ".bias"], self.eps, r_h,
                                     ledger)

    def relevance(self, emb, row, token):
        """(R [S, D] on the token embeddings, the explained logit, the ledger)."""
        x0 = emb + self.w["transformer.wpe.weight"][:emb.shape[0]] if self.family == "gpt2" else emb
        layers, x = [], x0
        for i in range(self.layers):
            layers.append(self.layer_forward(x, i))
            x = layers[-1]["out"]
        final_name = "gpt_neox.final_layer_norm" if self.family == "neox" else "transformer.ln_f"
        final = self.ln(x, final_name)
        head = self.net.logits(emb, torch.ones(emb.shape[0], dtype=torch.float64))[row, token]
        weight = self.head_weight()[token]
        bias = float(self.w["lm_head.bias"][token]) if self.family == "gptj" else 0.0
        ledger = Ledger()
        ledger.bias += bias
        r = torch.zeros_like(final)
        r[row] = final[row] * weight
        r = layer_norm_rule(x, self.w[final_name + ".weight"], self.w[final_name + ".bias"], self.eps, r, ledger)
        for a in reversed(layers):
            r = self.layer_rule(a, r, ledger)
        r_emb = emb * ratio(r, x0)  # GPT-2: the position row's share is absorbed, as a bias's
        ledger.bias += float((r - r_emb).sum())
        return r_emb, float(head), ledger

    def head_weight(self):
        c, w = self.c, self.w
        if self.family == "neox":
            return w["gpt_neox.embed_in.weight"] if c.get("tie_word_embeddings") else w["embed_out.weight"]
        if self.family == "gpt2":
            return w["transformer.wte.weight"] if c.get("tie_word_embeddings", True) else w["lm_head.weight"]
        return w["transformer.wte.weight"] if c.get("tie_word_embeddings") else w["lm_head.weight"]
