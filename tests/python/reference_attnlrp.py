#!/usr/bin/python3
"""AttnLRP (Achtibat et al., ICML 2024, arXiv 2402.05602) for tiny-magma-
architecture contract models (AttnLrp) and the imported LLaMA/Mistral/LLaVA
language models (LlamaAttnLrp), written from the paper's rules as explicit
relevance propagation in float64: no autograd and nothing from
torchscript_models/ (the networks are re-evaluated from their weights by
reference_atman.Reference and reference_llama.ReferenceLlama). It checks
`atman explain --method attnlrp`, which takes Input x Gradient through the
model's forward_lrp instead.

The rules (R: relevance, z: a layer's output, x its input):
  linear z = W x + b (LRP-0)     R_x[j] = x[j] * sum_i W[i, j] R_z[i] / z[i]; b absorbs sum_i b[i] R_z[i] / z[i]
  sum z = a + b + ...             R_a = a / z * R_z
  element-wise activation         R_x = R_z (identity rule; ReLU, GELU)
  LayerNorm                       the division by the standard deviation passes R unchanged (identity
                                  rule); the mean's subtraction is a linear map; the affine part is
                                  linear with a bias
  a product z = sum_k a[k] b[k]   each term a[k] b[k] gets its share a[k] b[k] / z R_z, half of which goes
    (Q K^T, A V)                  to each factor (uniform rule)
  softmax s = softmax(x)          R_x[i] = x[i] (R_s[i] - s[i] sum_j R_s[j]) (the paper's softmax rule,
                                  over the keys a query sees)
Propagation starts from the explained logit (its value), so sum_i R[i] =
logit - bias - softmax, with `bias` what every bias absorbed and `softmax`
the softmax rule's non-conserved part (sum R_s - sum R_x): both are
returned.

Usage: explain(model_path, prompt, target, image_path=None, granularity="token")
       explain(adapter, ..., lrp=LlamaAttnLrp(reference_llama_net))   (imported LLaMA/Mistral/LLaVA)
       -> {"positions": [...], "logits": [T], "bias": [T], "softmax": [T], "relevance": [[S x T]]}"""
import math

import torch
import torch.nn.functional as F

from tests.python import reference_atman


def ratio(r, z):
    """r / z, 0 where r is 0 (rows no relevance reached)."""
    return torch.where(r == 0, torch.zeros_like(r), r / torch.where(z == 0, torch.ones_like(z), z))


class Ledger:
    """What the non-conserving parts absorbed."""

    def __init__(self):
        self.bias = 0.0
        self.softmax = 0.0


def linear_rule(x, weight, bias, r_out, ledger):
    """z = x W^T + b; returns R_x (x [.., Din], r_out [.., Dout])."""
    z = x @ weight.T + (bias if bias is not None else 0.0)
    q = ratio(r_out, z)
    if bias is not None:
        ledger.bias += float((q * bias).sum())
    return x * (q @ weight)


def attention_rule(q, k, v, visible, r_out, ledger):
    """q [H, S, dh], k, v [Hkv, S, dh] (after rotary; query head h reads
    key-value head h // (H / Hkv)), visible [S, S]; r_out [H, S, dh] -> R_q,
    R_k, R_v (a shared key-value head gets its query heads' relevance summed)."""
    group = q.shape[0] // k.shape[0]
    k_h, v_h = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
    dh = q.shape[2]
    scores = q @ k_h.transpose(1, 2) / math.sqrt(dh)
    probs = torch.softmax(scores.masked_fill(~visible, -math.inf), dim=-1)
    g = ratio(r_out, probs @ v_h)  # [H, S, dh]
    # out[q, d] = sum_k A[q, k] v[k, d]: term (q, k, d) gets A v g, half to A, half to v.
    r_probs = 0.5 * probs * (g @ v_h.transpose(1, 2))
    r_v = 0.5 * v_h * (probs.transpose(1, 2) @ g)
    x = torch.where(visible, scores, torch.zeros_like(scores))
    r_scores = torch.where(visible, x * (r_probs - probs * r_probs.sum(-1, keepdim=True)), torch.zeros_like(x))
    ledger.softmax += float(r_probs.sum() - r_scores.sum())
    # scores[q, k] = sum_e q[q, e] k[k, e] / sqrt(dh): half to each factor.
    c = ratio(r_scores, scores.masked_fill(~visible, 1.0)) / math.sqrt(dh)
    r_k = 0.5 * k_h * (c.transpose(1, 2) @ q)
    fold = lambda t: t.view(k.shape[0], group, *t.shape[1:]).sum(1)  # noqa: E731
    return 0.5 * q * (c @ k_h), fold(r_k), fold(r_v)


def rotary_rule(x, rotated, cos, sin, r_out):
    """rotated = x cos + rotate_half(x) sin (Hugging Face's half-split
    layout), a linear map per position."""
    r = ratio(r_out, rotated)
    half = x.shape[-1] // 2
    rs = r * sin
    return x * (r * cos + torch.cat([rs[..., half:], -rs[..., :half]], dim=-1))


def causal(s, window=0):
    """[S, S] true where query q sees key k: k <= q (and q - k < window)."""
    q, k = torch.arange(s)[:, None], torch.arange(s)[None, :]
    seen = k <= q
    return seen & (q - k < window) if window else seen


class AttnLrp:
    """Forward pass of the plain model (all modifiers 1, textbook causal
    attention) keeping what the rules need, then the relevance pass."""

    def __init__(self, ref):
        self.ref = ref
        self.w = ref.w

    def layer_norm_rule(self, x, name, r_out, ledger):
        weight, bias = self.w[name + ".weight"], self.w[name + ".bias"]
        centred = x - x.mean(-1, keepdim=True)
        normed = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-5)
        y = normed * weight + bias
        q = ratio(r_out, y)
        ledger.bias += float((q * bias).sum())
        r_centred = normed * weight * q  # the affine part, then identity through the division
        c = ratio(r_centred, centred)  # the mean's subtraction: centred = (I - 1/D) x
        return x * (c - c.mean(-1, keepdim=True))

    def adapter_rule(self, z, name, r_out, ledger):
        """out = z + up(relu(down z))."""
        down = self.ref.linear(z, name + ".down")
        hidden = torch.relu(down)
        up = self.ref.linear(hidden, name + ".up")
        out = z + up
        r_up = up * ratio(r_out, out)
        r_hidden = linear_rule(hidden, self.w[name + ".up.weight"], self.w[name + ".up.bias"], r_up, ledger)
        r_z = linear_rule(z, self.w[name + ".down.weight"], self.w[name + ".down.bias"], r_hidden, ledger)
        return z * ratio(r_out, out) + r_z

    def block_forward(self, x, i, cos, sin):
        """One block of the plain model (textbook causal attention), keeping
        every intermediate the rules need."""
        ref = self.ref
        p = "blocks.%d." % i
        s, d = x.shape
        heads, dh = ref.heads, d // ref.heads
        half = dh // 2
        a = {"x": x, "h": ref.layer_norm(x, p + "ln")}
        qkv = ref.linear(a["h"], p + "qkv", bias=False).view(s, 3, heads, dh).permute(1, 2, 0, 3)  # [3, H, S, dh]
        a["raw_q"], a["raw_k"], a["v"] = qkv[0], qkv[1], qkv[2]
        for name in ("q", "k"):
            t = a["raw_" + name]
            a[name] = t * cos + torch.cat([-t[..., half:], t[..., :half]], dim=-1) * sin
        scores = (a["q"] @ a["k"].transpose(1, 2) / math.sqrt(dh)).masked_fill(
            torch.triu(torch.ones(s, s, dtype=torch.bool), 1), -math.inf)
        a["attended"] = (torch.softmax(scores, -1) @ a["v"]).transpose(0, 1).reshape(s, d)
        a["projected"] = ref.linear(a["attended"], p + "out", bias=False)
        a["attn"] = ref.adapter(a["projected"], p + "attn_adapter")
        a["inner"] = F.gelu(ref.linear(a["h"], p + "fc_in"))
        a["mlp_raw"] = ref.linear(a["inner"], p + "fc_out")
        a["mlp"] = ref.adapter(a["mlp_raw"], p + "mlp_adapter")
        a["out"] = x + a["attn"] + a["mlp"]
        return a

    def block_rule(self, a, i, cos, sin, r_out, ledger):
        """R of the block's input from R of its output (a: block_forward's intermediates)."""
        w = self.w
        p = "blocks.%d." % i
        s, d = a["x"].shape
        heads, dh = self.ref.heads, d // self.ref.heads
        q_out = ratio(r_out, a["out"])  # the residual sum x + attn + mlp
        # attention branch: adapter, out projection, attention, rotary, qkv projection
        r_projected = self.adapter_rule(a["projected"], p + "attn_adapter", a["attn"] * q_out, ledger)
        r_attended = linear_rule(a["attended"], w[p + "out.weight"], None, r_projected, ledger)
        r_q, r_k, r_v = attention_rule(a["q"], a["k"], a["v"], causal(s),
                                       r_attended.view(s, heads, dh).transpose(0, 1), ledger)
        r_qkv = torch.stack([rotary_rule(a["raw_q"], a["q"], cos, sin, r_q),
                             rotary_rule(a["raw_k"], a["k"], cos, sin, r_k), r_v])
        r_h = linear_rule(a["h"], w[p + "qkv.weight"], None, r_qkv.permute(2, 0, 1, 3).reshape(s, 3 * d), ledger)
        # MLP branch: adapter, fc_out, GELU (identity rule), fc_in
        r_mlp_raw = self.adapter_rule(a["mlp_raw"], p + "mlp_adapter", a["mlp"] * q_out, ledger)
        r_inner = linear_rule(a["inner"], w[p + "fc_out.weight"], w[p + "fc_out.bias"], r_mlp_raw, ledger)
        r_h = r_h + linear_rule(a["h"], w[p + "fc_in.weight"], w[p + "fc_in.bias"], r_inner, ledger)
        return a["x"] * q_out + self.layer_norm_rule(a["x"], p + "ln", r_h, ledger)

    def relevance(self, emb, row, token):
        """R [S, D] of logit `token` at `row`, the logit, and the ledger."""
        ref = self.ref
        cos, sin = ref.rotary(emb.shape[0])
        blocks = []
        x = emb
        for i in range(ref.layers):
            blocks.append(self.block_forward(x, i, cos, sin))
            x = blocks[-1]["out"]
        final = ref.layer_norm(x, "final_ln")
        head = self.w["head.weight"][token]
        ledger = Ledger()
        r = torch.zeros_like(final)
        r[row] = final[row] * head  # the head's linear rule, starting from R = the logit's value
        r = self.layer_norm_rule(x, "final_ln", r, ledger)
        for i in reversed(range(ref.layers)):
            r = self.block_rule(blocks[i], i, cos, sin, r, ledger)
        return r, float(final[row] @ head), ledger


class LlamaAttnLrp:
    """The same rules on reference_llama.ReferenceLlama's network (RMSNorm,
    grouped-query attention with rotary positions (rope_scaling included) and
    the network's sliding windows (Mistral's, Qwen2's per layer),
    SwiGLU MLP down(silu(gate h) * up h), optional biases). RMSNorm passes
    its relevance unchanged (identity for the division, a diagonal linear
    map for the weight); SiLU is the identity rule; the gate's product is
    the uniform rule."""

    def __init__(self, net):
        self.net, self.c, self.w = net, net.c, net.w
        self.heads = self.c["num_attention_heads"]
        self.kv_heads = self.c.get("num_key_value_heads") or self.heads
        self.dh = self.c.get("head_dim") or self.c["hidden_size"] // self.heads
        self.eps = self.c["rms_norm_eps"]

    def linear(self, x, name, r_out, ledger):
        return linear_rule(x, self.w[name + ".weight"], self.w.get(name + ".bias"), r_out, ledger)

    def layer_forward(self, x, p, cos, sin, window):
        from tests.python.reference_llama import rms_norm, silu
        s = x.shape[0]
        a = {"x": x, "h": rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps)}
        proj = lambda t, name: self.net._linear(t, p + name)  # noqa: E731
        a["raw_q"] = proj(a["h"], "self_attn.q_proj").view(s, self.heads, self.dh).transpose(0, 1)
        a["raw_k"] = proj(a["h"], "self_attn.k_proj").view(s, self.kv_heads, self.dh).transpose(0, 1)
        a["v"] = proj(a["h"], "self_attn.v_proj").view(s, self.kv_heads, self.dh).transpose(0, 1)
        half = self.dh // 2
        for name in ("q", "k"):
            t = a["raw_" + name]
            a[name] = t * cos + torch.cat([-t[..., half:], t[..., :half]], dim=-1) * sin
        group = self.heads // self.kv_heads
        scores = (a["q"] @ a["k"].repeat_interleave(group, 0).transpose(1, 2) / math.sqrt(self.dh)).masked_fill(
            ~causal(s, window), -math.inf)
        a["attended"] = (torch.softmax(scores, -1) @ a["v"].repeat_interleave(group, 0)).transpose(0, 1) \
            .reshape(s, self.heads * self.dh)
        a["mid"] = x + proj(a["attended"], "self_attn.o_proj")
        a["h2"] = rms_norm(a["mid"], self.w[p + "post_attention_layernorm.weight"], self.eps)
        a["gate"], a["up"] = proj(a["h2"], "mlp.gate_proj"), proj(a["h2"], "mlp.up_proj")
        a["product"] = silu(a["gate"]) * a["up"]
        a["out"] = a["mid"] + proj(a["product"], "mlp.down_proj")
        return a

    def layer_rule(self, a, p, cos, sin, r_out, ledger, window):
        s = a["x"].shape[0]
        q_out = ratio(r_out, a["out"])  # out = mid + mlp
        r_product = self.linear(a["product"], p + "mlp.down_proj", (a["out"] - a["mid"]) * q_out, ledger)
        # silu(gate) * up: half to each factor; silu by the identity rule; RMSNorm passes R unchanged
        r_h2 = self.linear(a["h2"], p + "mlp.gate_proj", 0.5 * r_product, ledger) + \
            self.linear(a["h2"], p + "mlp.up_proj", 0.5 * r_product, ledger)
        r_mid = a["mid"] * q_out + r_h2
        q_mid = ratio(r_mid, a["mid"])  # mid = x + attention
        r_attended = self.linear(a["attended"], p + "self_attn.o_proj", (a["mid"] - a["x"]) * q_mid, ledger)
        r_q, r_k, r_v = attention_rule(a["q"], a["k"], a["v"], causal(s, window),
                                       r_attended.view(s, self.heads, self.dh).transpose(0, 1), ledger)
        r_q, r_k = rotary_rule(a["raw_q"], a["q"], cos, sin, r_q), rotary_rule(a["raw_k"], a["k"], cos, sin, r_k)
        flat = lambda t: t.transpose(0, 1).reshape(s, -1)  # noqa: E731
        r_h = self.linear(a["h"], p + "self_attn.q_proj", flat(r_q), ledger) + \
            self.linear(a["h"], p + "self_attn.k_proj", flat(r_k), ledger) + \
            self.linear(a["h"], p + "self_attn.v_proj", flat(r_v), ledger)
        return a["x"] * q_mid + r_h

    def relevance(self, emb, row, token):
        from tests.python.reference_llama import frequency, rms_norm
        s = emb.shape[0]
        theta = self.c.get("rope_theta", 10000.0)
        freqs = torch.tensor([frequency(j, self.dh, theta, self.c.get("rope_scaling")) for j in range(self.dh // 2)],
                             dtype=torch.float64)
        angle = torch.arange(s, dtype=torch.float64)[:, None] * freqs[None, :]
        cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)
        layers, x = [], emb
        for i in range(self.c["num_hidden_layers"]):
            layers.append(self.layer_forward(x, "%slayers.%d." % (self.net.p, i), cos, sin, self.net.window(i)))
            x = layers[-1]["out"]
        final = rms_norm(x, self.w[self.net.p + "norm.weight"], self.eps)
        head = self.net.head[token]
        ledger = Ledger()
        r = torch.zeros_like(final)
        r[row] = final[row] * head  # the final RMSNorm passes it on unchanged
        for i in reversed(range(len(layers))):
            r = self.layer_rule(layers[i], "%slayers.%d." % (self.net.p, i), cos, sin, r, ledger, self.net.window(i))
        return r, float(final[row] @ head), ledger


def explain(model_path, prompt, target, image_path=None, granularity="token", lrp=None):
    """`model_path`: a path or reference_atman.Reference (tiny-magma); `lrp`:
    the rules' object (default AttnLrp over the tiny-magma network; a
    LlamaAttnLrp with its reference_atman-style adapter as model_path)."""
    ref = model_path if isinstance(model_path, reference_atman.Reference) else reference_atman.Reference(model_path)
    prepared = reference_atman.prepare(ref, prompt, target, image_path, granularity)
    lrp = lrp or AttnLrp(ref)
    columns, logits, bias, softmax = [], [], [], []
    with torch.no_grad():
        for row, token in zip(prepared.pred_rows, prepared.target_ids):
            r, logit, ledger = lrp.relevance(prepared.emb, row, token)
            columns.append(r.sum(-1))
            logits.append(logit)
            bias.append(ledger.bias)
            softmax.append(ledger.softmax)
    values = torch.stack(columns, dim=1)  # [S, T]
    return {
        "positions": [{"index": g[0], "members": g, "relevance": float(values[g].sum()),
                       "per_target": values[g].sum(0).tolist()} for g in prepared.groups],
        "relevance": values.tolist(), "logits": logits, "bias": bias, "softmax": softmax,
        "sequence_length": values.shape[0],
    }
