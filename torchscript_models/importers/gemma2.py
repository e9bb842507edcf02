"""Gemma2ForCausalLM as an explainable model, from the published definition
(Gemma Team 2024; Hugging Face's Gemma2Config keys):

- embeddings multiplied by sqrt(hidden_size) (rounded to the model's dtype,
  as transformers does): embed_text returns the scaled rows, the layer-0 input;
- RMSNorm x / rms(x) * (1 + w), in float32, four per block:
  x += post_attention_layernorm(attn(input_layernorm x)),
  x += post_feedforward_layernorm(mlp(pre_feedforward_layernorm x));
- GeGLU MLP down(gelu_tanh(gate x) * up x) (hidden_activation
  gelu_pytorch_tanh);
- grouped-query attention with head_dim, rotary positions (half-split,
  rope_theta), scores Q K^T * query_pre_attn_scalar^-1/2, soft-capped
  attn_logit_softcapping * tanh(. / attn_logit_softcapping);
- a sliding window of sliding_window keys on alternate layers (layer_types
  where the config lists them, else layers 0, 2, 4, ...);
- final norm, the head tied to the embedding, logits soft-capped by
  final_logit_softcapping.

AtMan (docs/method.md, DESIGN section 1 literally): the modification acts on
the scores that enter the softmax, after the soft-cap and before the
causal and window masks (manipulated_attention's softcap argument).

Usage: s = Gemma2Settings.from_hf(config, "config.json")
       model = Gemma2ExplainableModel(s, max_positions, dtype)"""
import math
from typing import Tuple

import torch
from torch import Tensor, nn

from ..atman_attention import lrp_attention, manipulated_attention
from ..lrp_rules import identity_softcap, uniform_product

from .errors import CheckpointError
from .gpt_blocks import TextOnlyContract, activation, check_positive, merge_heads, meta_linear
from .llama import rotate_half
from .rope import RopeScaling, inverse_frequencies, rotary_tables
from .rotary_decoder import RotaryDecoder

# Gemma2Config's defaults for keys a config.json may leave out.
DEFAULTS = dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                num_attention_heads=8, num_key_value_heads=4, head_dim=256, hidden_activation="gelu_pytorch_tanh",
                max_position_embeddings=8192, rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=False,
                query_pre_attn_scalar=256, sliding_window=4096, final_logit_softcapping=30.0,
                attn_logit_softcapping=50.0, tie_word_embeddings=True, bos_token_id=2, eos_token_id=1)


class Gemma2Settings:
    @staticmethod
    def from_hf(config, where):
        keep_null = ("final_logit_softcapping", "attn_logit_softcapping", "sliding_window")
        c = dict(DEFAULTS, **{k: v for k, v in config.items() if v is not None or k in keep_null})
        s = Gemma2Settings()
        s.activation = c.get("hidden_activation") or c.get("hidden_act") or "gelu_pytorch_tanh"
        activation(s.activation, where, "hidden_activation")
        s.vocab_size = int(c["vocab_size"])
        s.hidden_size = int(c["hidden_size"])
        s.intermediate_size = int(c["intermediate_size"])
        s.num_layers = int(c["num_hidden_layers"])
        s.num_heads = int(c["num_attention_heads"])
        s.num_kv_heads = int(c["num_key_value_heads"] or s.num_heads)
        s.head_dim = int(c["head_dim"] or s.hidden_size // s.num_heads)
        s.max_positions = int(c["max_position_embeddings"])
        s.eps = float(c["rms_norm_eps"])
        s.rope_theta = float(c["rope_theta"])
        s.rope_scaling = RopeScaling.from_hf(c.get("rope_scaling"), where)
        s.bias = bool(c["attention_bias"])
        s.scale = float(c["query_pre_attn_scalar"]) ** -0.5
        s.attn_softcap = float(c["attn_logit_softcapping"] or 0.0)
        s.final_softcap = float(c["final_logit_softcapping"] or 0.0)
        s.tie_word_embeddings = bool(c["tie_word_embeddings"])
        s.bos_token_id, s.eos_token_id = c.get("bos_token_id"), c.get("eos_token_id")
        check_positive(s, ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                           "num_kv_heads", "head_dim", "max_positions"), where)
        if s.num_heads % s.num_kv_heads:
            raise CheckpointError("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d"
                                  % (where, s.num_heads, s.num_kv_heads))
        if s.head_dim % 2:
            raise CheckpointError("%s: head dimension %d is odd; rotary positions need pairs" % (where, s.head_dim))
        if s.attn_softcap < 0 or s.final_softcap < 0:
            raise CheckpointError("%s: soft-capping values must be positive or null" % where)
        s.sliding_window = int(c["sliding_window"] or 0)
        s.windowed = gemma2_windowed_layers(c, s.num_layers, where) if s.sliding_window else [False] * s.num_layers
        return s

    def check_max_positions(self, max_positions, where):
        pass  # rotary positions extend to any length

    def windowed_layers(self):
        return [i for i, w in enumerate(self.windowed) if w]

    def ignorable(self, key):
        return key.endswith("rotary_emb.inv_freq") or (self.tie_word_embeddings and key == "lm_head.weight")


def gemma2_windowed_layers(c, layers, where):
    """layer_types where given (newer configs), else Gemma-2's rule: even layers slide."""
    types = c.get("layer_types")
    if types is None:
        return [i % 2 == 0 for i in range(layers)]
    if not isinstance(types, list) or len(types) != layers or \
            any(t not in ("full_attention", "sliding_attention") for t in types):
        raise CheckpointError("%s: layer_types must list full_attention or sliding_attention for each of the %d "
                              "layers, got %s" % (where, layers, str(types)[:200]))
    return [t == "sliding_attention" for t in types]


class Gemma2RMSNorm(nn.Module):
    """x / rms(x) * (1 + w), all in float32, then back to the input's dtype."""

    def __init__(self, width: int, eps: float, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(width, device="meta", dtype=dtype))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return (h * (1.0 + self.weight.float())).to(x.dtype)

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        """The root mean square detached (identity rule), as lrp_rules' RMSNorm."""
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps).detach()
        return (h * (1.0 + self.weight.float())).to(x.dtype)


class Gemma2Attention(nn.Module):
    def __init__(self, s: Gemma2Settings, layer: int, dtype: torch.dtype):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = s.num_heads, s.num_kv_heads, s.head_dim
        self.scale, self.softcap = s.scale, s.attn_softcap
        self.sliding_window = s.sliding_window if s.windowed[layer] else 0
        self.q_proj = meta_linear(s.hidden_size, s.num_heads * s.head_dim, s.bias, dtype)
        self.k_proj = meta_linear(s.hidden_size, s.num_kv_heads * s.head_dim, s.bias, dtype)
        self.v_proj = meta_linear(s.hidden_size, s.num_kv_heads * s.head_dim, s.bias, dtype)
        self.o_proj = meta_linear(s.num_heads * s.head_dim, s.hidden_size, s.bias, dtype)

    def forward(self, h: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        q, k, v = self.project_qkv(h, cos, sin)
        attended, probs = manipulated_attention(q, torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2),
                                                modifier, past_k.size(2), self.sliding_window, log_additive,
                                                self.scale, self.softcap)
        return self.o_proj(merge_heads(attended)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        q, k, v = self.project_qkv(h, cos, sin)
        return self.o_proj(merge_heads(lrp_attention(q, k, v, self.sliding_window, self.scale, self.softcap)))

    def project_qkv(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        b, s = h.size(0), h.size(1)
        q = self.q_proj(h).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin, v


class Gemma2MLP(nn.Module):
    def __init__(self, s: Gemma2Settings, dtype: torch.dtype):
        super().__init__()
        self.gate_proj = meta_linear(s.hidden_size, s.intermediate_size, False, dtype)
        self.up_proj = meta_linear(s.hidden_size, s.intermediate_size, False, dtype)
        self.down_proj = meta_linear(s.intermediate_size, s.hidden_size, False, dtype)
        self.act = activation(s.activation, "config.json", "hidden_activation")

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return self.down_proj(uniform_product(self.act.forward_lrp(self.gate_proj(x)), self.up_proj(x)))


class Gemma2DecoderLayer(nn.Module):
    def __init__(self, s: Gemma2Settings, layer: int, dtype: torch.dtype):
        super().__init__()
        self.self_attn = Gemma2Attention(s, layer, dtype)
        self.mlp = Gemma2MLP(s, dtype)
        self.input_layernorm = Gemma2RMSNorm(s.hidden_size, s.eps, dtype)
        self.post_attention_layernorm = Gemma2RMSNorm(s.hidden_size, s.eps, dtype)
        self.pre_feedforward_layernorm = Gemma2RMSNorm(s.hidden_size, s.eps, dtype)
        self.post_feedforward_layernorm = Gemma2RMSNorm(s.hidden_size, s.eps, dtype)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        attended, k, v, probs = self.self_attn(self.input_layernorm(x), cos, sin, modifier, past_k, past_v,
                                               log_additive)
        x = x + self.post_attention_layernorm(attended)
        return x + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(x))), k, v, probs

    @torch.jit.export
    def forward_lrp(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.post_attention_layernorm.forward_lrp(
            self.self_attn.forward_lrp(self.input_layernorm.forward_lrp(x), cos, sin))
        return x + self.post_feedforward_layernorm.forward_lrp(
            self.mlp.forward_lrp(self.pre_feedforward_layernorm.forward_lrp(x)))


class SoftcappedHead(nn.Module):
    """The LM head (weight [V, D], no bias) with the final soft-cap: logits
    cap * tanh(z / cap) (cap 0: none)."""

    def __init__(self, s: Gemma2Settings, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(s.vocab_size, s.hidden_size, device="meta", dtype=dtype))
        self.cap = s.final_softcap

    def forward(self, hidden: Tensor) -> Tensor:
        logits = torch.matmul(hidden, self.weight.t())
        if self.cap > 0.0:
            logits = torch.tanh(logits / self.cap) * self.cap
        return logits

    @torch.jit.export
    def forward_lrp(self, hidden: Tensor) -> Tensor:
        logits = torch.matmul(hidden, self.weight.t())
        if self.cap > 0.0:
            logits = identity_softcap(logits, self.cap)
        return logits


class Gemma2Model(nn.Module):
    def __init__(self, s: Gemma2Settings, dtype: torch.dtype):
        super().__init__()
        self.embed_tokens = nn.Embedding(s.vocab_size, s.hidden_size, device="meta", dtype=dtype)
        self.layers = nn.ModuleList([Gemma2DecoderLayer(s, i, dtype) for i in range(s.num_layers)])
        self.norm = Gemma2RMSNorm(s.hidden_size, s.eps, dtype)


class Gemma2ForCausalLM(RotaryDecoder):
    """The network, Hugging Face's module tree; the passes (`run`, every
    pass the contract methods need) are rotary_decoder.RotaryDecoder's."""

    def __init__(self, s: Gemma2Settings, max_positions: int, dtype: torch.dtype):
        super().__init__(s, max_positions)
        self.model = Gemma2Model(s, dtype)
        self.lm_head = SoftcappedHead(s, dtype)
        self.embed_scale = math.sqrt(s.hidden_size)
        self.rope = (s.rope_theta, s.rope_scaling, s.tie_word_embeddings)

    def allocate(self):
        theta, scaling, tied = self.rope
        del self.rope
        self.to_empty(device="cpu")
        if tied:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.set_rotary_tables(*rotary_tables(inverse_frequencies(self.head_dim, theta, scaling), self.max_positions))

    @torch.jit.export
    def embed_tokens(self, ids: Tensor) -> Tensor:
        rows = self.model.embed_tokens(ids)
        # sqrt(hidden_size) rounded to the model's dtype first, as transformers does.
        return rows * torch.tensor(self.embed_scale, dtype=rows.dtype)


class Gemma2ExplainableModel(TextOnlyContract):
    def __init__(self, s: Gemma2Settings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = Gemma2ForCausalLM(s, max_positions, dtype)
        self.language_model.allocate()

    @torch.jit.export
    def forward_lrp(self, embeddings: Tensor) -> Tensor:
        """The final soft-cap by the identity rule too."""
        return self.language_model.lm_head.forward_lrp(self.language_model.run_lrp(embeddings))
