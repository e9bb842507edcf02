"""LLaMA-family language models (LlamaForCausalLM, MistralForCausalLM,
Qwen2ForCausalLM) as explainable models, from the published definitions:
RMSNorm (the config's eps), SwiGLU MLP down(silu(gate x) * up x), rotary
positions with rope_theta in Hugging Face's half-split layout (dimension i
pairs with i + d_head/2) and rope_scaling "linear" or "llama3" (rope.py),
grouped-query attention, optional q/k/v/o and MLP biases (Qwen2: q/k/v
biases, none on o), tied or untied LM head, and sliding windows (Mistral:
every layer; Qwen2 with use_sliding_window: the layers layer_types names
"sliding_attention", else those from max_window_layers on), exact: the
window's mask, like the causal mask, applies after the AtMan modification;
the row minimum stays over all keys. Every layer's attention is
atman_attention.manipulated_attention (both controls); forward_lrp runs the
same weights with AttnLRP's rules (lrp_rules.py, atman_attention.lrp_attention).

Module names map one to one onto the checkpoint keys: `language_model.` +
Hugging Face's key (model.layers.0.self_attn.q_proj.weight, lm_head.weight).

Usage: settings = LlamaSettings.from_hf(config_dict, "config.json")
       model = TextExplainableModel(settings, dtype)   # parameters uninitialised
       load_weights(model, source, prefix="language_model.", ignorable=settings.ignorable)"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..atman_attention import lrp_attention, manipulated_attention
from ..lrp_rules import identity_rms_norm, identity_silu, uniform_product

from .errors import CheckpointError
from .rope import RopeScaling, inverse_frequencies, rotary_tables
from .rotary_decoder import RotaryDecoder

# Hugging Face's defaults for keys a config.json may leave out (LlamaConfig,
# MistralConfig); a LLaVA text_config often holds only a few keys.
DEFAULTS = {
    "llama": dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                  num_attention_heads=32, hidden_act="silu", max_position_embeddings=2048, rms_norm_eps=1e-6,
                  rope_theta=10000.0, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                  sliding_window=None, bos_token_id=1, eos_token_id=2),
    "mistral": dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, hidden_act="silu",
                    max_position_embeddings=4096 * 32, rms_norm_eps=1e-6, rope_theta=10000.0,
                    tie_word_embeddings=False, attention_bias=False, mlp_bias=False, sliding_window=4096,
                    bos_token_id=1, eos_token_id=2),
    # Qwen2Config: q/k/v always carry biases (o none); a window only with use_sliding_window.
    "qwen2": dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=32, hidden_act="silu", max_position_embeddings=32768,
                  rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, attention_bias=False,
                  mlp_bias=False, use_sliding_window=False, sliding_window=4096, max_window_layers=28,
                  bos_token_id=None, eos_token_id=None),
}
ARCHITECTURES = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2"}


class LlamaSettings:
    """The shape of a LLaMA/Mistral model, read from a Hugging Face config."""

    @staticmethod
    def from_hf(config, where, model_type=None):
        model_type = model_type or config.get("model_type", "llama")
        if model_type not in DEFAULTS:
            raise CheckpointError("%s: language model type %r is not supported (supported: %s)"
                                  % (where, model_type, ", ".join(sorted(DEFAULTS))))
        c = dict(DEFAULTS[model_type], **{k: v for k, v in config.items() if v is not None or k == "sliding_window"})
        rope_scaling = RopeScaling.from_hf(c.get("rope_scaling"), where)
        if c["hidden_act"] != "silu":
            raise CheckpointError("%s: hidden_act %r is not supported for the language model (supported: silu)"
                                  % (where, c["hidden_act"]))
        s = LlamaSettings()
        s.model_type = model_type
        s.vocab_size = int(c["vocab_size"])
        s.hidden_size = int(c["hidden_size"])
        s.intermediate_size = int(c["intermediate_size"])
        s.num_layers = int(c["num_hidden_layers"])
        s.num_heads = int(c["num_attention_heads"])
        s.num_kv_heads = int(c.get("num_key_value_heads") or s.num_heads)
        s.head_dim = int(c.get("head_dim") or s.hidden_size // max(s.num_heads, 1))
        s.rms_norm_eps = float(c["rms_norm_eps"])
        s.rope_theta = float(c["rope_theta"])
        s.rope_scaling = rope_scaling
        s.max_positions = int(c["max_position_embeddings"])
        s.tie_word_embeddings = bool(c["tie_word_embeddings"])
        s.qkv_bias = bool(c["attention_bias"]) or model_type == "qwen2"
        s.o_bias = bool(c["attention_bias"])
        s.mlp_bias = bool(c["mlp_bias"])
        s.sliding_window, s.windowed = 0, [False] * s.num_layers
        if model_type == "mistral":
            s.sliding_window = int(c["sliding_window"] or 0)
            s.windowed = [True] * s.num_layers
        elif model_type == "qwen2" and c.get("use_sliding_window") and c.get("sliding_window"):
            s.sliding_window = int(c["sliding_window"])
            s.windowed = qwen2_windowed_layers(c, s.num_layers, where)
        s.bos_token_id, s.eos_token_id = c.get("bos_token_id"), c.get("eos_token_id")
        for key in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                    "head_dim", "max_positions"):
            if getattr(s, key) <= 0:
                raise CheckpointError("%s: %s must be positive, got %d" % (where, key, getattr(s, key)))
        if s.num_heads % s.num_kv_heads:
            raise CheckpointError("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d"
                                  % (where, s.num_heads, s.num_kv_heads))
        if s.sliding_window < 0:
            raise CheckpointError("%s: sliding_window must be positive, got %d" % (where, s.sliding_window))
        if s.head_dim % 2:
            raise CheckpointError("%s: head dimension %d is odd; rotary positions need pairs" % (where, s.head_dim))
        return s

    def layer_window(self, layer):
        """The sliding window of layer `layer` (0: causal attention over all keys)."""
        return self.sliding_window if self.windowed[layer] else 0

    def windowed_layers(self):
        return [i for i, w in enumerate(self.windowed) if w and self.sliding_window]

    def ignorable(self, key):
        """Checkpoint tensors the model knowingly leaves out: old checkpoints'
        rotary frequency buffers, and a tied head's stored copy."""
        return key.endswith("rotary_emb.inv_freq") or (self.tie_word_embeddings and key == "lm_head.weight")


def qwen2_windowed_layers(c, layers, where):
    """Qwen2's rule: the layers that layer_types (newer configs) names
    "sliding_attention", else layers max_window_layers and later."""
    types = c.get("layer_types")
    if types is None:
        return [i >= int(c["max_window_layers"] or 0) for i in range(layers)]
    if not isinstance(types, list) or len(types) != layers or \
            any(t not in ("full_attention", "sliding_attention") for t in types):
        raise CheckpointError("%s: layer_types must list full_attention or sliding_attention for each of the %d "
                              "layers, got %s" % (where, layers, str(types)[:200]))
    return [t == "sliding_attention" for t in types]


def rotate_half(x: Tensor) -> Tensor:
    half = x.size(-1) // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class LlamaRMSNorm(nn.Module):
    def __init__(self, width: int, eps: float, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(width, dtype=dtype))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # In float32 whatever the model's dtype, then back, as the reference does.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return identity_rms_norm(x, self.weight, self.eps)


def linear(n_in: int, n_out: int, bias: bool, dtype: torch.dtype) -> nn.Linear:
    # Built on the meta device: no time or memory spent on an initialisation
    # the checkpoint overwrites; to_empty() allocates once, in the output dtype.
    return nn.Linear(n_in, n_out, bias=bias, device="meta", dtype=dtype)


class LlamaAttention(nn.Module):
    def __init__(self, s: LlamaSettings, layer: int, dtype: torch.dtype):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = s.num_heads, s.num_kv_heads, s.head_dim
        self.sliding_window = s.layer_window(layer)
        self.q_proj = linear(s.hidden_size, s.num_heads * s.head_dim, s.qkv_bias, dtype)
        self.k_proj = linear(s.hidden_size, s.num_kv_heads * s.head_dim, s.qkv_bias, dtype)
        self.v_proj = linear(s.hidden_size, s.num_kv_heads * s.head_dim, s.qkv_bias, dtype)
        self.o_proj = linear(s.num_heads * s.head_dim, s.hidden_size, s.o_bias, dtype)

    def forward(self, h: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor,
                past_v: Tensor, log_additive: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """h [B,S,D] normalised input of positions P..P+S-1, past_k/v
        [B,Hkv,P,dh]; modifier holds factors, or with log_additive the
        additive bias (atman_attention.py). Returns (output [B,S,D], this
        call's keys (after rotary) and values [B,Hkv,S,dh], probabilities
        [B,H,S,P+S])."""
        b, s = h.size(0), h.size(1)
        q, k, v = self.project_qkv(h, cos, sin)
        keys = torch.cat([past_k, k], dim=2)
        values = torch.cat([past_v, v], dim=2)
        attended, probs = manipulated_attention(q, keys, values, modifier, past_k.size(2), self.sliding_window,
                                                log_additive)
        out = self.o_proj(attended.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))
        return out, k, v, probs

    @torch.jit.export
    def forward_lrp(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """AttnLRP's attention (atman_attention.lrp_attention) on positions 0..S-1."""
        b, s = h.size(0), h.size(1)
        q, k, v = self.project_qkv(h, cos, sin)
        attended = lrp_attention(q, k, v, self.sliding_window)
        return self.o_proj(attended.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))

    def project_qkv(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        b, s = h.size(0), h.size(1)
        q = self.q_proj(h).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(h).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin, v


class LlamaMLP(nn.Module):
    def __init__(self, s: LlamaSettings, dtype: torch.dtype):
        super().__init__()
        self.gate_proj = linear(s.hidden_size, s.intermediate_size, s.mlp_bias, dtype)
        self.up_proj = linear(s.hidden_size, s.intermediate_size, s.mlp_bias, dtype)
        self.down_proj = linear(s.intermediate_size, s.hidden_size, s.mlp_bias, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        """The gate's silu by the identity rule, its product by the uniform rule."""
        return self.down_proj(uniform_product(identity_silu(self.gate_proj(x)), self.up_proj(x)))


class PreNormDecoderLayer(nn.Module):
    """LLaMA's layer, x + attn(norm1 x) then x + mlp(norm2 x), over the
    subclass's self_attn, mlp, input_layernorm and post_attention_layernorm."""

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor,
                past_v: Tensor, log_additive: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        attended, k, v, probs = self.self_attn(self.input_layernorm(x), cos, sin, modifier, past_k, past_v,
                                               log_additive)
        x = x + attended
        return x + self.mlp(self.post_attention_layernorm(x)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.self_attn.forward_lrp(self.input_layernorm.forward_lrp(x), cos, sin)
        return x + self.mlp.forward_lrp(self.post_attention_layernorm.forward_lrp(x))


class LlamaDecoderLayer(PreNormDecoderLayer):
    def __init__(self, s: LlamaSettings, layer: int, dtype: torch.dtype):
        super().__init__()
        self.self_attn = LlamaAttention(s, layer, dtype)
        self.mlp = LlamaMLP(s, dtype)
        self.input_layernorm = LlamaRMSNorm(s.hidden_size, s.rms_norm_eps, dtype)
        self.post_attention_layernorm = LlamaRMSNorm(s.hidden_size, s.rms_norm_eps, dtype)


class LlamaModel(nn.Module):
    def __init__(self, s: LlamaSettings, dtype: torch.dtype):
        super().__init__()
        self.embed_tokens = nn.Embedding(s.vocab_size, s.hidden_size, device="meta", dtype=dtype)
        self.layers = nn.ModuleList([LlamaDecoderLayer(s, i, dtype) for i in range(s.num_layers)])
        self.norm = LlamaRMSNorm(s.hidden_size, s.rms_norm_eps, dtype)


class LlamaForCausalLM(RotaryDecoder):
    """The network, Hugging Face's module tree; the passes (`run`, every pass
    the contract methods need: positions P..P+S-1 over a cache of P
    positions) are rotary_decoder.RotaryDecoder's."""

    def __init__(self, s: LlamaSettings, max_positions: int, dtype: torch.dtype):
        super().__init__(s, max_positions)
        self.model = LlamaModel(s, dtype)
        self.lm_head = linear(s.hidden_size, s.vocab_size, False, dtype)
        self.rope_theta, self.rope_scaling = s.rope_theta, s.rope_scaling
        self.tie_word_embeddings = s.tie_word_embeddings

    def allocate(self):
        """Allocates the parameters (uninitialised: the checkpoint fills
        them), ties the head, and computes the rotary tables, in float64
        then stored as float32 and cast to the parameters' dtype at use (a
        bfloat16 copy computes in bfloat16)."""
        self.to_empty(device="cpu")
        if self.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.set_rotary_tables(*rotary_tables(inverse_frequencies(self.head_dim, self.rope_theta, self.rope_scaling),
                                              self.max_positions))


class ContractMethods(nn.Module):
    """The contract's methods (docs/contract.md, docs/optional_methods.md) over
    a `language_model` (LlamaForCausalLM); subclasses provide embed_image."""

    @torch.jit.export
    def embed_text(self, ids: Tensor) -> Tensor:
        return self.language_model.model.embed_tokens(ids)

    def forward(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.language_model.lm_head(self.hidden_states(embeddings, attention_modifier))

    @torch.jit.export
    def lm_head(self, hidden: Tensor) -> Tensor:
        return self.language_model.lm_head(hidden)

    @torch.jit.export
    def hidden_states(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        x = self._broadcast(embeddings, attention_modifier)
        hidden, _, _ = self.language_model.run(x, attention_modifier, self.language_model.empty_cache(x), False,
                                               False)
        return hidden

    @torch.jit.export
    def prefix_cache(self, embeddings: Tensor) -> Tensor:
        """Clean pass over [1,P,D]: [L, 2, Hkv, P, dh], keys after rotary."""
        lm = self.language_model
        _, kvs, _ = lm.run(embeddings, embeddings.new_ones(1, embeddings.size(1)), lm.empty_cache(embeddings),
                           True, False)
        return torch.stack([kv[:, 0] for kv in kvs])

    @torch.jit.export
    def hidden_states_from_cache(self, embeddings: Tensor, cache: Tensor, attention_modifier: Tensor) -> Tensor:
        x = self._broadcast(embeddings, attention_modifier)
        hidden, _, _ = self.language_model.run(x, attention_modifier, cache, False, False)
        return hidden

    @torch.jit.export
    def step_from_cache(self, embeddings: Tensor, cache: Tensor,
                        attention_modifier: Tensor) -> Tuple[Tensor, Tensor]:
        """Steered generation: embeddings [1,S2,D] of positions P..P+S2-1,
        cache [L,2,Hkv,P,dh] (P may be 0), modifier [1,P+S2]. Returns (final
        hidden states [1,S2,D], the cache extended to [L,2,Hkv,P+S2,dh])."""
        hidden, kvs, _ = self.language_model.run(embeddings, attention_modifier, cache, True, False)
        new = torch.stack([kv[:, 0] for kv in kvs])
        return hidden, torch.cat([cache, new], dim=3)

    @torch.jit.export
    def forward_with_attentions(self, embeddings: Tensor,
                                attention_modifier: Tensor) -> Tuple[Tensor, List[Tensor]]:
        x = self._broadcast(embeddings, attention_modifier)
        hidden, _, maps = self.language_model.run(x, attention_modifier, self.language_model.empty_cache(x),
                                                  False, True)
        return self.language_model.lm_head(hidden), maps

    # The log-additive control (docs/optional_methods.md): attention_bias is
    # added to each key's score after the 1/sqrt(dh) scaling; -inf removes it.
    @torch.jit.export
    def forward_additive(self, embeddings: Tensor, attention_bias: Tensor) -> Tensor:
        return self.language_model.lm_head(self.hidden_states_additive(embeddings, attention_bias))

    @torch.jit.export
    def hidden_states_additive(self, embeddings: Tensor, attention_bias: Tensor) -> Tensor:
        x = self._broadcast(embeddings, attention_bias)
        hidden, _, _ = self.language_model.run(x, attention_bias, self.language_model.empty_cache(x), False,
                                               False, True)
        return hidden

    @torch.jit.export
    def hidden_states_from_cache_additive(self, embeddings: Tensor, cache: Tensor,
                                          attention_bias: Tensor) -> Tensor:
        x = self._broadcast(embeddings, attention_bias)
        hidden, _, _ = self.language_model.run(x, attention_bias, cache, False, False, True)
        return hidden

    @torch.jit.export
    def forward_lrp(self, embeddings: Tensor) -> Tensor:
        """Logits [B,S,V] of the plain model, written so that Input x
        Gradient through it is AttnLRP (lrp_rules.py)."""
        return self.language_model.lm_head(self.language_model.run_lrp(embeddings))

    def _broadcast(self, embeddings: Tensor, modifier: Tensor) -> Tensor:
        if embeddings.size(0) == 1 and modifier.size(0) > 1:
            return embeddings.expand(modifier.size(0), -1, -1)
        return embeddings


class TextExplainableModel(ContractMethods):
    """A LLaMA/Mistral language model as a text-only explainable model."""

    def __init__(self, s: LlamaSettings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = LlamaForCausalLM(s, max_positions, dtype)
        self.language_model.allocate()

    @torch.jit.export
    def embed_image(self, pixels: Tensor) -> Tensor:
        raise RuntimeError("embed_image: this is a text-only model (its config has image null)")
