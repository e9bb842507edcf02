"""GPTNeoXForCausalLM (Pythia, GPT-NeoX-20B) as an explainable model, from
the published definition (Black et al. 2022; Hugging Face's GPTNeoXConfig
keys): LayerNorm blocks, parallel (x + attn(ln1 x) + mlp(ln2 x),
use_parallel_residual true) or sequential (x + attn(ln1 x), then
+ mlp(ln2 x)); query_key_value fused per head (its output viewed
[S, H, 3 * dh]: each head's q, k, v side by side); rotary positions in the
half-split layout on the first int(dh * rotary_pct) dimensions of each head
with base rotary_emb_base (rope_theta in newer configs; rope_scaling as
rope.py reads it); gelu; an untied head embed_out (tied with
tie_word_embeddings).

AtMan: every layer calls atman_attention.manipulated_attention on
H = QK^T / sqrt(dh) after rotary, the modification before the causal mask.
Checkpoint keys map one to one: `language_model.` + the key; old
checkpoints' buffers (attention.bias, masked_bias, rotary_emb.inv_freq) are
ignored.

Usage: s = NeoxSettings.from_hf(config, "config.json")
       model = NeoxExplainableModel(s, max_positions, dtype)"""
from typing import Tuple

import torch
from torch import Tensor, nn

from ..atman_attention import lrp_attention, manipulated_attention

from .errors import CheckpointError
from .gpt_blocks import (LayerNorm, TextOnlyContract, activation, check_positive, merge_heads,
                         meta_linear)
from .partial_rotary import rotary_tables_for, rotate_half_split
from .rope import RopeScaling, inverse_frequencies
from .rotary_decoder import RotaryDecoder

# GPTNeoXConfig's defaults for keys a config.json may leave out.
DEFAULTS = dict(vocab_size=50432, hidden_size=6144, num_hidden_layers=44, num_attention_heads=64,
                intermediate_size=24576, hidden_act="gelu", rotary_pct=0.25, max_position_embeddings=2048,
                layer_norm_eps=1e-5, use_parallel_residual=True, attention_bias=True, tie_word_embeddings=False,
                bos_token_id=0, eos_token_id=2)


class NeoxSettings:
    @staticmethod
    def from_hf(config, where):
        c = dict(DEFAULTS, **{k: v for k, v in config.items() if v is not None})
        s = NeoxSettings()
        s.activation = c["hidden_act"]
        activation(s.activation, where, "hidden_act")
        s.vocab_size = int(c["vocab_size"])
        s.hidden_size = int(c["hidden_size"])
        s.num_layers = int(c["num_hidden_layers"])
        s.num_heads = int(c["num_attention_heads"])
        s.num_kv_heads = s.num_heads
        s.intermediate_size = int(c["intermediate_size"])
        s.max_positions = int(c["max_position_embeddings"])
        s.eps = float(c["layer_norm_eps"])
        s.parallel = bool(c["use_parallel_residual"])
        s.bias = bool(c["attention_bias"])
        s.tie_word_embeddings = bool(c["tie_word_embeddings"])
        s.rope_theta = float(c.get("rope_theta", c.get("rotary_emb_base", 10000.0)))
        s.rope_scaling = RopeScaling.from_hf(c.get("rope_scaling"), where)
        s.bos_token_id, s.eos_token_id = c.get("bos_token_id"), c.get("eos_token_id")
        s.sliding_window = 0
        check_positive(s, ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                           "max_positions"), where)
        if s.hidden_size % s.num_heads:
            raise CheckpointError("%s: hidden_size %d is not a multiple of num_attention_heads %d"
                                  % (where, s.hidden_size, s.num_heads))
        s.head_dim = s.hidden_size // s.num_heads
        # rotary_pct, or partial_rotary_factor in newer configs; 0.25 when neither is given.
        pct = config.get("rotary_pct", config.get("partial_rotary_factor", DEFAULTS["rotary_pct"]))
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 0 < pct <= 1:
            raise CheckpointError("%s: rotary_pct must be a number in (0, 1], got %r" % (where, pct))
        s.rotary_dims = int(s.head_dim * pct)
        if s.rotary_dims % 2 or s.rotary_dims == 0:
            raise CheckpointError("%s: rotary_pct %g gives %d rotary dimensions of %d; rotary positions need pairs"
                                  % (where, pct, s.rotary_dims, s.head_dim))
        return s

    def check_max_positions(self, max_positions, where):
        pass  # rotary positions extend to any length

    def windowed_layers(self):
        return []

    def ignorable(self, key):
        return key.endswith(".attention.bias") or key.endswith(".attention.masked_bias") or \
            key.endswith("rotary_emb.inv_freq") or (self.tie_word_embeddings and key == "embed_out.weight")


class NeoxAttention(nn.Module):
    def __init__(self, s: NeoxSettings, dtype: torch.dtype):
        super().__init__()
        self.heads, self.head_dim = s.num_heads, s.head_dim
        self.query_key_value = meta_linear(s.hidden_size, 3 * s.hidden_size, s.bias, dtype)
        self.dense = meta_linear(s.hidden_size, s.hidden_size, s.bias, dtype)

    def forward(self, h: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        q, k, v = self.project_qkv(h, cos, sin)
        attended, probs = manipulated_attention(q, torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2),
                                                modifier, past_k.size(2), 0, log_additive)
        return self.dense(merge_heads(attended)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        q, k, v = self.project_qkv(h, cos, sin)
        return self.dense(merge_heads(lrp_attention(q, k, v)))

    def project_qkv(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        b, s = h.size(0), h.size(1)
        fused = self.query_key_value(h).view(b, s, self.heads, 3 * self.head_dim).transpose(1, 2)
        q = fused[..., :self.head_dim]
        k = fused[..., self.head_dim:2 * self.head_dim]
        v = fused[..., 2 * self.head_dim:]
        return rotate_half_split(q, cos, sin), rotate_half_split(k, cos, sin), v.contiguous()


class NeoxMLP(nn.Module):
    def __init__(self, s: NeoxSettings, dtype: torch.dtype):
        super().__init__()
        self.dense_h_to_4h = meta_linear(s.hidden_size, s.intermediate_size, True, dtype)
        self.dense_4h_to_h = meta_linear(s.intermediate_size, s.hidden_size, True, dtype)
        self.act = activation(s.activation, "config.json", "hidden_act")

    def forward(self, x: Tensor) -> Tensor:
        return self.dense_4h_to_h(self.act(self.dense_h_to_4h(x)))

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return self.dense_4h_to_h(self.act.forward_lrp(self.dense_h_to_4h(x)))


class NeoxLayer(nn.Module):
    def __init__(self, s: NeoxSettings, dtype: torch.dtype):
        super().__init__()
        self.input_layernorm = LayerNorm(s.hidden_size, s.eps, dtype)
        self.post_attention_layernorm = LayerNorm(s.hidden_size, s.eps, dtype)
        self.attention = NeoxAttention(s, dtype)
        self.mlp = NeoxMLP(s, dtype)
        self.parallel = s.parallel

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        attended, k, v, probs = self.attention(self.input_layernorm(x), cos, sin, modifier, past_k, past_v,
                                               log_additive)
        if self.parallel:
            return x + attended + self.mlp(self.post_attention_layernorm(x)), k, v, probs
        x = x + attended
        return x + self.mlp(self.post_attention_layernorm(x)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        attended = self.attention.forward_lrp(self.input_layernorm.forward_lrp(x), cos, sin)
        if self.parallel:
            return x + attended + self.mlp.forward_lrp(self.post_attention_layernorm.forward_lrp(x))
        x = x + attended
        return x + self.mlp.forward_lrp(self.post_attention_layernorm.forward_lrp(x))


class NeoxModel(nn.Module):
    def __init__(self, s: NeoxSettings, dtype: torch.dtype):
        super().__init__()
        self.embed_in = nn.Embedding(s.vocab_size, s.hidden_size, device="meta", dtype=dtype)
        self.layers = nn.ModuleList([NeoxLayer(s, dtype) for _ in range(s.num_layers)])
        self.final_layer_norm = LayerNorm(s.hidden_size, s.eps, dtype)


class NeoxForCausalLM(RotaryDecoder):
    """The network, Hugging Face's module tree; the passes (`run`, every
    pass the contract methods need) are rotary_decoder.RotaryDecoder's."""

    def __init__(self, s: NeoxSettings, max_positions: int, dtype: torch.dtype):
        super().__init__(s, max_positions)
        self.gpt_neox = NeoxModel(s, dtype)
        self.embed_out = meta_linear(s.hidden_size, s.vocab_size, False, dtype)
        self.settings = (s.rotary_dims, s.rope_theta, s.rope_scaling, s.tie_word_embeddings)

    def allocate(self):
        rotary_dims, theta, scaling, tied = self.settings
        del self.settings
        self.to_empty(device="cpu")
        if tied:
            self.embed_out.weight = self.gpt_neox.embed_in.weight
        self.set_rotary_tables(*rotary_tables_for(inverse_frequencies(rotary_dims, theta, scaling),
                                                  self.max_positions, "half_split"))

    @property
    def decoder_layers(self):
        return self.gpt_neox.layers

    @property
    def final_norm(self):
        return self.gpt_neox.final_layer_norm

    @property
    def token_embedding(self):
        return self.gpt_neox.embed_in

    @torch.jit.export
    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.gpt_neox.embed_in(ids)

    @torch.jit.export
    def lm_head(self, hidden: Tensor) -> Tensor:
        return self.embed_out(hidden)


class NeoxExplainableModel(TextOnlyContract):
    def __init__(self, s: NeoxSettings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = NeoxForCausalLM(s, max_positions, dtype)
        self.language_model.allocate()
