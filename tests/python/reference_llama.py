#!/usr/bin/python3
"""An independent float64 implementation of the architectures the importer
supports, written from their published definitions (LLaMA: Touvron et al.
2023 and Hugging Face's LlamaConfig keys, rope_scaling "linear" and Llama-3.1's
"llama3" frequency rule; Mistral's sliding window; Qwen2: q/k/v biases, the
window on layers from max_window_layers on when use_sliding_window; CLIP's
vision transformer; SigLIP's (no class token, a patch-embedding bias,
gelu_pytorch_tanh); LLaVA-1.5's projector; llama2.c's run.c), with the AtMan
attention of docs/method.md. Biases are used wherever the weights hold them
and a tied head is the embedding matrix. It shares no code with
torchscript_models/ (not the modules, not manipulated_attention, not the
weight readers): weights come in as a dict of tensors under the checkpoint's
own names, as the test generated them.

Usage: net = ReferenceLlama(weights, config, rotary="half_split" | "interleaved", prefix="model.")
       logits = net.logits(embeddings [S, D], modifier [S])
       clip = ReferenceLlava(weights, llava_config); clip.embed_image(pixels [3, H, W])"""
import math

import torch

F64 = torch.float64


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def silu(x):
    return x / (1 + torch.exp(-x))


def gelu(x):  # the exact (erf) form
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def gelu_tanh(x):  # gelu_pytorch_tanh: GELU's tanh approximation
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def quick_gelu(x):
    return x / (1 + torch.exp(-1.702 * x))


def frequency(j, dh, theta, scaling):
    """Rotation per position of pair j: theta^(-2j/dh), then rope_scaling.
    linear: divided by factor (positions / factor). llama3 (Llama-3.1's
    published rule), with wavelength w = 2 pi / f and L the original
    context: w < L / high_freq_factor keeps f; w > L / low_freq_factor gives
    f / factor; in between, with a = (L / w - low) / (high - low), the mix
    (1 - a) f / factor + a f."""
    f = theta ** (-2.0 * j / dh)
    if not scaling:
        return f
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = scaling["factor"]
    if kind == "linear":
        return f / factor
    if kind != "llama3":
        raise ValueError("rope_scaling type %r is not the reference's (linear, llama3)" % kind)
    low, high, original = scaling["low_freq_factor"], scaling["high_freq_factor"], \
        scaling["original_max_position_embeddings"]
    wavelength = 2 * math.pi / f
    if wavelength < original / high:
        return f
    if wavelength > original / low:
        return f / factor
    a = (original / wavelength - low) / (high - low)
    return (1 - a) * f / factor + a * f


def rotate(x, positions, theta, layout, scaling=None):
    """Rotary positions: pair j of a head turns by position * frequency(j).
    half_split pairs dimensions (j, j + dh/2) (Hugging Face); interleaved
    pairs (2j, 2j+1) (llama2.c's run.c). x [H, S, dh]."""
    dh = x.shape[-1]
    freqs = torch.tensor([frequency(j, dh, theta, scaling) for j in range(dh // 2)], dtype=F64)
    angle = positions.to(F64)[:, None] * freqs[None, :]  # [S, dh/2]
    c, s = torch.cos(angle), torch.sin(angle)
    if layout == "half_split":
        a, b = x[..., :dh // 2], x[..., dh // 2:]
        return torch.cat([a * c - b * s, b * c + a * s], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = b * c + a * s
    return out


def atman_attention(q, k, v, modifier, window=0, min_keys=None, log_additive=False):
    """docs/method.md per head: H = QK^T/sqrt(dh); H' = (H - min H) * m[k]
    (log_additive: H' = H + log m[k], no minimum; log 0 = -inf removes the
    key, and a row left with no key gives 0); then the causal mask (and the
    sliding window's); softmax. q [H, S, dh]; k, v [Hkv, S, dh]: query head h
    reads key-value head h // (H/Hkv). min_keys[q] (default S): the row
    minimum runs over keys 0..min_keys[q]-1 (steered generation's rows saw
    only the keys that existed then)."""
    heads, s, dh = q.shape
    group = heads // k.shape[0]
    out = torch.empty_like(q)
    qpos = torch.arange(s)[:, None]
    kpos = torch.arange(s)[None, :]
    hidden = kpos > qpos
    if window:
        hidden = hidden | (kpos <= qpos - window)
    limit = torch.full((s,), s) if min_keys is None else torch.as_tensor(min_keys)
    seen = kpos < limit[:, None]
    for h in range(heads):
        kh, vh = k[h // group], v[h // group]
        scores = q[h] @ kh.T / math.sqrt(dh)
        if log_additive:
            scores = (scores + torch.log(modifier)[None, :]).masked_fill(hidden, -math.inf)
            alive = torch.isfinite(scores).any(dim=-1, keepdim=True)
            weights = torch.softmax(torch.where(alive, scores, torch.zeros_like(scores)), dim=-1)
            out[h] = torch.where(alive, weights, torch.zeros_like(weights)) @ vh
            continue
        row_min = torch.where(seen, scores, torch.full_like(scores, math.inf)).min(dim=-1, keepdim=True).values
        scores = (scores - row_min) * modifier[None, :]
        scores = scores.masked_fill(hidden, -math.inf)
        out[h] = torch.softmax(scores, dim=-1) @ vh
    return out


class ReferenceLlama:
    """LLaMA / Mistral decoder from weights under `prefix` (Hugging Face key
    names; for llama2.c the test passes its tensors under the same names,
    rows in llama2.c's own order, with rotary="interleaved")."""

    def __init__(self, weights, config, rotary="half_split", prefix="model.", head_key="lm_head.weight"):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config
        self.rotary = rotary
        self.p = prefix
        tied = config.get("tie_word_embeddings", False)
        self.head = self.w[prefix + "embed_tokens.weight"] if tied else self.w[head_key]

    def embed_text(self, ids):
        return self.w[self.p + "embed_tokens.weight"][torch.as_tensor(ids, dtype=torch.long)]

    def _linear(self, x, name):
        y = x @ self.w[name + ".weight"].T
        bias = self.w.get(name + ".bias")
        return y if bias is None else y + bias

    def hidden(self, emb, modifier, min_keys=None, control="multiplicative"):
        c = self.c
        s = emb.shape[0]
        heads = c["num_attention_heads"]
        kv_heads = c.get("num_key_value_heads") or heads
        dh = c.get("head_dim") or c["hidden_size"] // heads
        eps, theta = c["rms_norm_eps"], c.get("rope_theta", 10000.0)
        scaling = c.get("rope_scaling")
        pos = torch.arange(s)
        x = emb.to(F64)
        modifier = modifier.to(F64)
        for i in range(c["num_hidden_layers"]):
            p = "%slayers.%d." % (self.p, i)
            h = rms_norm(x, self.w[p + "input_layernorm.weight"], eps)
            q = self._linear(h, p + "self_attn.q_proj").view(s, heads, dh).transpose(0, 1)
            k = self._linear(h, p + "self_attn.k_proj").view(s, kv_heads, dh).transpose(0, 1)
            v = self._linear(h, p + "self_attn.v_proj").view(s, kv_heads, dh).transpose(0, 1)
            q, k = rotate(q, pos, theta, self.rotary, scaling), rotate(k, pos, theta, self.rotary, scaling)
            att = atman_attention(q, k, v, modifier, self.window(i), min_keys, control == "log-additive")
            att = att.transpose(0, 1).reshape(s, heads * dh)
            x = x + self._linear(att, p + "self_attn.o_proj")
            h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], eps)
            x = x + self._linear(silu(self._linear(h, p + "mlp.gate_proj")) * self._linear(h, p + "mlp.up_proj"),
                                 p + "mlp.down_proj")
        return rms_norm(x, self.w[self.p + "norm.weight"], eps)

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        return self.hidden(emb, modifier, min_keys, control) @ self.head.T

    def window(self, layer):
        """Mistral: every layer's; Qwen2 with use_sliding_window: the layers
        layer_types calls sliding_attention, else layers max_window_layers and
        later; otherwise none (0)."""
        c = self.c
        if c.get("model_type") == "mistral":
            return c.get("sliding_window") or 0
        if c.get("model_type") == "qwen2" and c.get("use_sliding_window"):
            types = c.get("layer_types")  # newer configs name each layer's kind
            windowed = types[layer] == "sliding_attention" if types else layer >= c.get("max_window_layers", 28)
            return (c.get("sliding_window") or 0) if windowed else 0
        return 0


class ReferenceLlava:
    """CLIP or SigLIP vision tower + projector + a ReferenceLlama text model."""

    def __init__(self, weights, config):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config
        text = dict(config["text_config"])
        self.text = ReferenceLlama(weights, text, prefix="language_model.model.",
                                   head_key="language_model.lm_head.weight")

    def embed_text(self, ids):
        return self.text.embed_text(ids)

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        return self.text.logits(emb, modifier, min_keys, control)

    def embed_image(self, pixels):
        """pixels [3, S, S] -> [grid*grid, D]: patches flattened as the
        convolution's (channel, row, column) weight order, row-major grid."""
        v = self.c["vision_config"]
        w = lambda name: self.w["vision_tower.vision_model." + name]  # noqa: E731
        patch, width, heads = v["patch_size"], v["hidden_size"], v["num_attention_heads"]
        siglip = v.get("model_type") == "siglip_vision_model"
        eps = v.get("layer_norm_eps", 1e-6 if siglip else 1e-5)
        g = pixels.shape[1] // patch
        x = pixels.to(F64).reshape(3, g, patch, g, patch).permute(1, 3, 0, 2, 4).reshape(g * g, -1)
        x = x @ w("embeddings.patch_embedding.weight").reshape(width, -1).T
        if siglip:  # no class token, no pre-LayerNorm; the patch embedding has a bias
            x = x + w("embeddings.patch_embedding.bias") + w("embeddings.position_embedding.weight")
        else:
            x = torch.cat([w("embeddings.class_embedding")[None], x]) + w("embeddings.position_embedding.weight")
            x = layer_norm(x, w("pre_layrnorm.weight"), w("pre_layrnorm.bias"), eps)
        act = gelu_tanh if siglip else quick_gelu
        feature_layer = self.c.get("vision_feature_layer", -2)
        used = feature_layer if feature_layer >= 0 else v["num_hidden_layers"] + 1 + feature_layer
        n, dh = x.shape[0], width // heads
        for i in range(used):
            p = "encoder.layers.%d." % i
            lin = lambda t, name: t @ w(p + name + ".weight").T + w(p + name + ".bias")  # noqa: E731
            h = layer_norm(x, w(p + "layer_norm1.weight"), w(p + "layer_norm1.bias"), eps)
            q, k, val = (lin(h, "self_attn.%s_proj" % t).view(n, heads, dh).transpose(0, 1) for t in "qkv")
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(dh), dim=-1) @ val
            x = x + lin(att.transpose(0, 1).reshape(n, width), "self_attn.out_proj")
            h = layer_norm(x, w(p + "layer_norm2.weight"), w(p + "layer_norm2.bias"), eps)
            x = x + lin(act(lin(h, "mlp.fc1")), "mlp.fc2")
        if not siglip:
            x = x[1:]  # "default": the class token dropped
        proj = lambda t, name: t @ self.w["multi_modal_projector.%s.weight" % name].T \
            + self.w["multi_modal_projector.%s.bias" % name]  # noqa: E731
        return proj(gelu(proj(x, "linear_1")), "linear_2")
