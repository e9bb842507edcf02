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

Usage: net = ReferenceGpt2(weights, config, prefix="transformer.")
       logits = net.logits(net.embed_text(ids), modifier [S])"""
import math

import torch

from reference_llama import atman_attention, layer_norm

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
