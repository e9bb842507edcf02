"""Phi3ForCausalLM as an explainable model, from the published definition
(Abdin et al. 2024; Hugging Face's Phi3Config keys): LLaMA-style RMSNorm
blocks; qkv_proj fusing q, k, v (rows [q | k | v], grouped-query heads);
gate_up_proj fusing gate and up (rows [gate | up]): down(silu(gate) * up);
rotary positions (half-split, rope_theta) on the first
int(head_dim * partial_rotary_factor) dimensions; an untied head; a sliding
window of sliding_window keys on every layer when the config sets one.

rope_scaling none, or "longrope" ("su" in early configs) with its
short_factor and long_factor (one per rotary pair: frequency
1 / (factor_j * theta^(2j/rot))), chosen as Hugging Face chooses them: the
long factors when the sequence (its largest position + 1) is longer than
original_max_position_embeddings, else the short ones; cos and sin scaled by
attention_factor, by default sqrt(1 + ln(s) / ln(original)) with
s = max_position_embeddings / original_max_position_embeddings (1 when
s <= 1). That choice depends on the length of the whole sequence, which a
cached prefix cannot know, so:

- a model imported with max_positions <= original_max_position_embeddings
  (the importer's default for longrope) only ever sees sequences that take
  the short factors: fixed tables, every optional method (prefix reuse, the
  KV cache);
- one imported with a longer --max-positions chooses per pass, by the pass's
  length, and has no cache methods (Phi3WholeSequenceModel): atman-cpp falls
  back to whole-sequence passes, and generation recomputes each step (Hugging
  Face's cached generation would keep the short-factor keys of positions
  computed before the sequence crossed the limit).

AtMan: every layer calls atman_attention.manipulated_attention on
H = QK^T / sqrt(head_dim), the window's mask after the modification.

Usage: s = Phi3Settings.from_hf(config, "config.json")
       model = Phi3ExplainableModel(s, max_positions, dtype)"""
import json
import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..atman_attention import lrp_attention, manipulated_attention
from ..lrp_rules import identity_silu, uniform_product

from .errors import CheckpointError
from .gpt_blocks import TextOnlyContract, TextOnlyEmbedding, check_positive, merge_heads, meta_linear
from .llama import LlamaRMSNorm, PreNormDecoderLayer
from .partial_rotary import rotate_half_split
from .rotary_decoder import RotaryDecoder

# Phi3Config's defaults for keys a config.json may leave out.
DEFAULTS = dict(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=None, hidden_act="silu", max_position_embeddings=4096,
                original_max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=None,
                partial_rotary_factor=1.0, sliding_window=None, tie_word_embeddings=False, bos_token_id=1,
                eos_token_id=32000)


class Phi3Settings:
    @staticmethod
    def from_hf(config, where):
        keep_null = ("rope_scaling", "sliding_window", "num_key_value_heads")
        c = dict(DEFAULTS, **{k: v for k, v in config.items() if v is not None or k in keep_null})
        if c["hidden_act"] != "silu":
            raise CheckpointError("%s: hidden_act %r is not supported (supported: silu)" % (where, c["hidden_act"]))
        s = Phi3Settings()
        s.vocab_size = int(c["vocab_size"])
        s.hidden_size = int(c["hidden_size"])
        s.intermediate_size = int(c["intermediate_size"])
        s.num_layers = int(c["num_hidden_layers"])
        s.num_heads = int(c["num_attention_heads"])
        s.num_kv_heads = int(c["num_key_value_heads"] or s.num_heads)
        s.max_positions = int(c["max_position_embeddings"])
        s.original_max_positions = int(c["original_max_position_embeddings"] or s.max_positions)
        s.eps = float(c["rms_norm_eps"])
        s.rope_theta = float(c["rope_theta"])
        s.tie_word_embeddings = bool(c["tie_word_embeddings"])
        s.sliding_window = int(c["sliding_window"] or 0)
        s.bos_token_id, s.eos_token_id = c.get("bos_token_id"), c.get("eos_token_id")
        check_positive(s, ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                           "num_kv_heads", "max_positions", "original_max_positions"), where)
        if s.hidden_size % s.num_heads or s.num_heads % s.num_kv_heads:
            raise CheckpointError("%s: hidden_size %d, num_attention_heads %d and num_key_value_heads %d do not "
                                  "divide" % (where, s.hidden_size, s.num_heads, s.num_kv_heads))
        s.head_dim = s.hidden_size // s.num_heads
        s.rotary_dims = int(s.head_dim * float(c["partial_rotary_factor"]))
        if s.rotary_dims % 2 or not 0 < s.rotary_dims <= s.head_dim:
            raise CheckpointError("%s: partial_rotary_factor %s gives %d rotary dimensions of %d; rotary positions "
                                  "need pairs" % (where, c["partial_rotary_factor"], s.rotary_dims, s.head_dim))
        s.short_factor, s.long_factor, s.attention_factor = longrope(c, s, where)
        s.switches_factors = c.get("rope_scaling") is not None
        return s

    def check_max_positions(self, max_positions, where):
        pass  # rotary positions extend to any length

    def default_max_positions(self):
        """longrope: the original context, where the short factors hold (fixed tables, caches)."""
        return self.original_max_positions if self.switches_factors else self.max_positions

    def needs_whole_sequence(self, max_positions):
        return self.switches_factors and max_positions > self.original_max_positions

    def windowed_layers(self):
        return list(range(self.num_layers)) if self.sliding_window else []

    def ignorable(self, key):
        return key.endswith("rotary_emb.inv_freq") or (self.tie_word_embeddings and key == "lm_head.weight")


def longrope(c, s, where):
    """(short factors, long factors, attention factor): ones and 1.0 without rope_scaling."""
    entry = c.get("rope_scaling")
    pairs = s.rotary_dims // 2
    if entry is None:
        return [1.0] * pairs, [1.0] * pairs, 1.0
    kind = entry.get("rope_type", entry.get("type")) if isinstance(entry, dict) else None
    if kind not in ("longrope", "su"):
        raise CheckpointError("%s: rope_scaling type %s is not supported for Phi-3 (supported: longrope, su, or none)"
                              % (where, json.dumps(kind)))
    factors = []
    for key in ("short_factor", "long_factor"):
        value = entry.get(key)
        if not isinstance(value, list) or len(value) != pairs or \
                any(isinstance(f, bool) or not isinstance(f, (int, float)) or f <= 0 for f in value):
            raise CheckpointError("%s: rope_scaling %s must list %d positive numbers (one per rotary pair), got %s"
                                  % (where, key, pairs, json.dumps(value)[:120]))
        factors.append([float(f) for f in value])
    attention = entry.get("attention_factor")
    if attention is None:
        scale = s.max_positions / s.original_max_positions
        attention = 1.0 if scale <= 1.0 else math.sqrt(1 + math.log(scale) / math.log(s.original_max_positions))
    return factors[0], factors[1], float(attention)


def phi3_tables(s, factors, max_positions):
    """float64 cos, sin [max_positions, rot] (half-split), scaled by the attention factor."""
    exponent = torch.arange(0, s.rotary_dims, 2, dtype=torch.float64) / s.rotary_dims
    inv = 1.0 / (torch.tensor(factors, dtype=torch.float64) * s.rope_theta ** exponent)
    angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos() * s.attention_factor, angles.sin() * s.attention_factor


class Phi3Attention(nn.Module):
    def __init__(self, s: Phi3Settings, dtype: torch.dtype):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = s.num_heads, s.num_kv_heads, s.head_dim
        self.sliding_window = s.sliding_window
        self.q_width, self.kv_width = s.num_heads * s.head_dim, s.num_kv_heads * s.head_dim
        self.qkv_proj = meta_linear(s.hidden_size, self.q_width + 2 * self.kv_width, False, dtype)
        self.o_proj = meta_linear(self.q_width, s.hidden_size, False, dtype)

    def forward(self, h: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """h [B,S,D] of positions P..P+S-1, cos/sin [S, rot] theirs; past_k/v [B,Hkv,P,dh], keys after rotary."""
        q, k, v = self.project_qkv(h)
        q, k = rotate_half_split(q, cos, sin), rotate_half_split(k, cos, sin)
        attended, probs = manipulated_attention(q, torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2),
                                                modifier, past_k.size(2), self.sliding_window, log_additive)
        return self.o_proj(merge_heads(attended)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        q, k, v = self.project_qkv(h)
        q, k = rotate_half_split(q, cos, sin), rotate_half_split(k, cos, sin)
        return self.o_proj(merge_heads(lrp_attention(q, k, v, self.sliding_window)))

    def project_qkv(self, h: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        b, s = h.size(0), h.size(1)
        fused = self.qkv_proj(h)
        q = fused[:, :, :self.q_width].reshape(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = fused[:, :, self.q_width:self.q_width + self.kv_width].reshape(b, s, self.kv_heads, self.head_dim)
        v = fused[:, :, self.q_width + self.kv_width:].reshape(b, s, self.kv_heads, self.head_dim)
        return q, k.transpose(1, 2), v.transpose(1, 2)


class Phi3MLP(nn.Module):
    def __init__(self, s: Phi3Settings, dtype: torch.dtype):
        super().__init__()
        self.width = s.intermediate_size
        self.gate_up_proj = meta_linear(s.hidden_size, 2 * s.intermediate_size, False, dtype)
        self.down_proj = meta_linear(s.intermediate_size, s.hidden_size, False, dtype)

    def forward(self, x: Tensor) -> Tensor:
        fused = self.gate_up_proj(x)
        return self.down_proj(F.silu(fused[..., :self.width]) * fused[..., self.width:])

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        fused = self.gate_up_proj(x)
        return self.down_proj(uniform_product(identity_silu(fused[..., :self.width]), fused[..., self.width:]))


class Phi3DecoderLayer(PreNormDecoderLayer):
    def __init__(self, s: Phi3Settings, dtype: torch.dtype):
        super().__init__()
        self.self_attn = Phi3Attention(s, dtype)
        self.mlp = Phi3MLP(s, dtype)
        self.input_layernorm = LlamaRMSNorm(s.hidden_size, s.eps, dtype)
        self.post_attention_layernorm = LlamaRMSNorm(s.hidden_size, s.eps, dtype)


class Phi3Model(nn.Module):
    def __init__(self, s: Phi3Settings, dtype: torch.dtype):
        super().__init__()
        self.embed_tokens = nn.Embedding(s.vocab_size, s.hidden_size, device="meta", dtype=dtype)
        self.layers = nn.ModuleList([Phi3DecoderLayer(s, dtype) for _ in range(s.num_layers)])
        self.norm = LlamaRMSNorm(s.hidden_size, s.eps, dtype)


class Phi3ForCausalLM(RotaryDecoder):
    """The network, Hugging Face's module tree; the passes (`run`, every
    pass the contract methods need) are rotary_decoder.RotaryDecoder's, with
    the short or long factors' tables (tables_for)."""

    def __init__(self, s: Phi3Settings, max_positions: int, dtype: torch.dtype):
        super().__init__(s, max_positions)
        self.model = Phi3Model(s, dtype)
        self.lm_head = meta_linear(s.hidden_size, s.vocab_size, False, dtype)
        self.original_max_positions = s.original_max_positions
        self.settings = s

    def allocate(self):
        s = self.settings
        del self.settings
        self.to_empty(device="cpu")
        if s.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        for name, factors in (("short", s.short_factor), ("long", s.long_factor)):
            self.set_rotary_tables(*phi3_tables(s, factors, self.max_positions), name=name)

    @torch.jit.export
    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.model.embed_tokens(ids)

    def tables_for(self, end: int) -> Tuple[Tensor, Tensor]:
        """The long factors when the sequence so far (`end` positions) is past the original length."""
        if end > self.original_max_positions:
            return self.long_cos, self.long_sin
        return self.short_cos, self.short_sin


class Phi3ExplainableModel(TextOnlyContract):
    def __init__(self, s: Phi3Settings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = Phi3ForCausalLM(s, max_positions, dtype)
        self.language_model.allocate()


class Phi3WholeSequenceModel(TextOnlyEmbedding):
    """A longrope model past its original context: the contract's methods
    that see the whole sequence (docs/optional_methods.md), none with a cache."""

    def __init__(self, s: Phi3Settings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = Phi3ForCausalLM(s, max_positions, dtype)
        self.language_model.allocate()

    def forward(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.language_model.lm_head(self.hidden_states(embeddings, attention_modifier))

    @torch.jit.export
    def lm_head(self, hidden: Tensor) -> Tensor:
        return self.language_model.lm_head(hidden)

    @torch.jit.export
    def hidden_states(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.whole(embeddings, attention_modifier, False, False)[0]

    @torch.jit.export
    def forward_with_attentions(self, embeddings: Tensor,
                                attention_modifier: Tensor) -> Tuple[Tensor, List[Tensor]]:
        hidden, maps = self.whole(embeddings, attention_modifier, True, False)
        return self.language_model.lm_head(hidden), maps

    @torch.jit.export
    def forward_additive(self, embeddings: Tensor, attention_bias: Tensor) -> Tensor:
        return self.language_model.lm_head(self.hidden_states_additive(embeddings, attention_bias))

    @torch.jit.export
    def hidden_states_additive(self, embeddings: Tensor, attention_bias: Tensor) -> Tensor:
        return self.whole(embeddings, attention_bias, False, True)[0]

    @torch.jit.export
    def forward_lrp(self, embeddings: Tensor) -> Tensor:
        return self.language_model.lm_head(self.language_model.run_lrp(embeddings))

    def whole(self, embeddings: Tensor, modifier: Tensor, keep_probs: bool,
              log_additive: bool) -> Tuple[Tensor, List[Tensor]]:
        if embeddings.size(0) == 1 and modifier.size(0) > 1:
            embeddings = embeddings.expand(modifier.size(0), -1, -1)
        lm = self.language_model
        hidden, _, maps = lm.run(embeddings, modifier, lm.empty_cache(embeddings), False, keep_probs, log_additive)
        return hidden, maps


def phi3_model(s: Phi3Settings, max_positions: int, dtype: torch.dtype):
    """The cached model, or the whole-sequence one when the factors may switch within max_positions."""
    if s.needs_whole_sequence(max_positions):
        return Phi3WholeSequenceModel(s, max_positions, dtype)
    return Phi3ExplainableModel(s, max_positions, dtype)
