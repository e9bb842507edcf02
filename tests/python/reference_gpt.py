#!/usr/bin/python3
"""An independent float64 implementation of the GPT-style architectures the
importer supports, written from their published definitions and Hugging
Face's config keys, with the AtMan attention of docs/method.md
(reference_llama.atman_attention: H = QK^T/sqrt(dh), (H - min H) * m over
all keys, then the causal mask). Nothing is shared with torchscript_models/:
weights come in as a dict of tensors under the checkpoint's own names.

GPT-2 (Radford et al. 2019): h0 = wte[ids] + wpe[position]; per block
x += c_proj(attn(ln_1 x)), x += c_proj(gelu_new(c_fc(ln_2 x))); Conv1D
weights are [in, out] (y = x W + b); c_attn's output is q | k | v; the head
is wte (tied) or lm_head.weight. embed_text gives wte[ids]; the position row
of sequence position p is added by logits(), as the imported model does.

GPT-NeoX and GPT-J: ReferenceNeox, ReferenceGptj below.

Usage: net = ReferenceGpt2(weights, config, prefix="transformer.")  (or ReferenceNeox, ReferenceGptj)
       logits = net.logits(net.embed_text(ids), modifier [S])"""
import math

import torch

from tests.python.reference_llama import atman_attention, layer_norm, rotate

F64 = torch.float64


def gelu_tanh(x):
    """gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


ACTIVATIONS = {"gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "gelu": gelu_erf, "relu": torch.relu}


class ReferenceGpt2:
    def __init__(self, weights, config, prefix="transformer."):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config
        self.p = prefix
        tied = config.get("tie_word_embeddings", True)
        self.head = self.w[prefix + "wte.weight"] if tied else self.w["lm_head.weight"]

    def embed_text(self, ids):
        return self.w[self.p + "wte.weight"][torch.as_tensor(ids, dtype=torch.long)]

    def conv1d(self, x, name):
        return x @ self.w[name + ".weight"] + self.w[name + ".bias"]

    def ln(self, x, name):
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.c.get("layer_norm_epsilon", 1e-5))

    def hidden(self, emb, modifier, min_keys=None, control="multiplicative"):
        c = self.c
        s, d = emb.shape
        heads = c["n_head"]
        dh = d // heads
        act = ACTIVATIONS[c.get("activation_function", "gelu_new")]
        x = emb.to(F64) + self.w[self.p + "wpe.weight"][:s]
        for i in range(c["n_layer"]):
            p = "%sh.%d." % (self.p, i)
            qkv = self.conv1d(self.ln(x, p + "ln_1"), p + "attn.c_attn")
            q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(s, heads, dh).transpose(0, 1) for j in range(3))
            att = atman_attention(q, k, v, modifier.to(F64), 0, min_keys, control == "log-additive")
            x = x + self.conv1d(att.transpose(0, 1).reshape(s, d), p + "attn.c_proj")
            x = x + self.conv1d(act(self.conv1d(self.ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
        return self.ln(x, self.p + "ln_f")

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        return self.hidden(emb, modifier, min_keys, control) @ self.head.T


def partial_rotate(x, rot, layout, theta=10000.0):
    """Rotary positions on the first `rot` dimensions of each head (pair j
    turns by position * theta^(-2j/rot)), the rest unchanged; layout
    half_split (GPT-NeoX: pairs (j, j + rot/2)) or interleaved (GPT-J's
    rotate_every_two: pairs (2j, 2j+1)). x [H, S, dh]."""
    turned = rotate(x[..., :rot], torch.arange(x.shape[1]), theta, layout)
    return torch.cat([turned, x[..., rot:]], dim=-1)


def linear(w, x, name, bias=True):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if bias and (name + ".bias") in w else y


class ReferenceNeox:
    """GPT-NeoX (Black et al. 2022): h0 = embed_in[ids]; per layer, with
    a = attn(input_layernorm x) and m = mlp(post_attention_layernorm .):
    parallel x + a + m(x), sequential x' = x + a, x' + m(x'); the fused
    query_key_value output per head is [q | k | v] (dh each); rotary on the
    first int(dh * rotary_pct) dimensions, half-split; head embed_out."""

    def __init__(self, weights, config):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config

    def embed_text(self, ids):
        return self.w["gpt_neox.embed_in.weight"][torch.as_tensor(ids, dtype=torch.long)]

    def ln(self, x, name):
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.c.get("layer_norm_eps", 1e-5))

    def hidden(self, emb, modifier, min_keys=None, control="multiplicative"):
        c, w = self.c, self.w
        s, d = emb.shape
        heads = c["num_attention_heads"]
        dh = d // heads
        rot = int(dh * c.get("rotary_pct", c.get("partial_rotary_factor", 0.25)))  # newer configs: the latter
        theta = c.get("rope_theta", c.get("rotary_emb_base", 10000.0))
        act = ACTIVATIONS[c.get("hidden_act", "gelu")]
        x = emb.to(F64)
        for i in range(c["num_hidden_layers"]):
            p = "gpt_neox.layers.%d." % i
            fused = linear(w, self.ln(x, p + "input_layernorm"), p + "attention.query_key_value")
            fused = fused.reshape(s, heads, 3 * dh).transpose(0, 1)
            q, k, v = fused[..., :dh], fused[..., dh:2 * dh], fused[..., 2 * dh:]
            q, k = partial_rotate(q, rot, "half_split", theta), partial_rotate(k, rot, "half_split", theta)
            att = atman_attention(q, k, v, modifier.to(F64), 0, min_keys, control == "log-additive")
            a = linear(w, att.transpose(0, 1).reshape(s, d), p + "attention.dense")

            def mlp(y):
                h = self.ln(y, p + "post_attention_layernorm")
                return linear(w, act(linear(w, h, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
            if c.get("use_parallel_residual", True):
                x = x + a + mlp(x)
            else:
                x = x + a
                x = x + mlp(x)
        return self.ln(x, "gpt_neox.final_layer_norm")

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        head = self.w["gpt_neox.embed_in.weight"] if self.c.get("tie_word_embeddings") else self.w["embed_out.weight"]
        return self.hidden(emb, modifier, min_keys, control) @ head.T


class ReferenceGptj:
    """GPT-J (Wang and Komatsuzaki 2021): h0 = wte[ids]; per block
    h = ln_1 x, x + out_proj(attn(h)) + fc_out(gelu_new(fc_in h)); q/k/v
    without biases, rotary on the first rotary_dim dimensions, interleaved;
    head lm_head with its bias."""

    def __init__(self, weights, config):
        self.w = {k: v.to(F64) for k, v in weights.items()}
        self.c = config

    def embed_text(self, ids):
        return self.w["transformer.wte.weight"][torch.as_tensor(ids, dtype=torch.long)]

    def ln(self, x, name):
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.c.get("layer_norm_epsilon", 1e-5))

    def hidden(self, emb, modifier, min_keys=None, control="multiplicative"):
        c, w = self.c, self.w
        s, d = emb.shape
        heads = c["n_head"]
        dh = d // heads
        rot = c.get("rotary_dim") or dh
        act = ACTIVATIONS[c.get("activation_function", "gelu_new")]
        x = emb.to(F64)
        for i in range(c["n_layer"]):
            p = "transformer.h.%d." % i
            h = self.ln(x, p + "ln_1")
            q, k, v = (linear(w, h, p + "attn.%s_proj" % t, bias=False).reshape(s, heads, dh).transpose(0, 1)
                       for t in "qkv")
            q, k = partial_rotate(q, rot, "interleaved"), partial_rotate(k, rot, "interleaved")
            att = atman_attention(q, k, v, modifier.to(F64), 0, min_keys, control == "log-additive")
            a = linear(w, att.transpose(0, 1).reshape(s, d), p + "attn.out_proj", bias=False)
            x = x + a + linear(w, act(linear(w, h, p + "mlp.fc_in")), p + "mlp.fc_out")
        return self.ln(x, "transformer.ln_f")

    def logits(self, emb, modifier, min_keys=None, control="multiplicative"):
        head = self.w["transformer.wte.weight"] if self.c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        return self.hidden(emb, modifier, min_keys, control) @ head.T + self.w["lm_head.bias"]
