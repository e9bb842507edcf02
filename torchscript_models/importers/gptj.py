"""GPTJForCausalLM (GPT-J-6B, MAGMA's language model: the paper's own
family) as an explainable model, from the published definition (Wang and
Komatsuzaki 2021; Hugging Face's GPTJConfig keys): one LayerNorm per block
feeding attention and MLP in parallel, x + attn(ln_1 x) + mlp(ln_1 x);
separate q/k/v/out projections without biases; rotary positions on the
first rotary_dim dimensions of each head in GPT-J's interleaved layout
(rotate_every_two: dimension 2j pairs with 2j+1, base 10000), the rest
untouched (rotary_dim null: the whole head); gelu_new MLP fc_in/fc_out with
biases; a final ln_f; an untied head lm_head with a bias.

AtMan: every layer calls atman_attention.manipulated_attention on
H = QK^T / sqrt(dh) after rotary, the modification before the causal mask,
exactly where the reference implementation (AtMan on MAGMA's GPT-J) puts it.
Checkpoint keys map one to one: `language_model.` + the key; old
checkpoints' attn.bias/masked_bias buffers are ignored.

Usage: s = GptjSettings.from_hf(config, "config.json")
       model = GptjExplainableModel(s, max_positions, dtype)"""
from typing import Tuple

import torch
from torch import Tensor, nn

from ..atman_attention import lrp_attention, manipulated_attention

from .errors import CheckpointError
from .gpt_blocks import (LayerNorm, TextOnlyContract, activation, check_positive, merge_heads,
                         meta_linear, split_heads)
from .partial_rotary import rotary_tables_for, rotate_interleaved
from .rope import inverse_frequencies
from .rotary_decoder import RotaryDecoder

# GPTJConfig's defaults for keys a config.json may leave out.
DEFAULTS = dict(vocab_size=50400, n_positions=2048, n_embd=4096, n_layer=28, n_head=16, rotary_dim=64,
                n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5, tie_word_embeddings=False,
                bos_token_id=50256, eos_token_id=50256)


class GptjSettings:
    @staticmethod
    def from_hf(config, where):
        c = dict(DEFAULTS, **{k: v for k, v in config.items() if v is not None or k in ("n_inner", "rotary_dim")})
        s = GptjSettings()
        s.activation = c["activation_function"]
        activation(s.activation, where)
        s.vocab_size = int(c["vocab_size"])
        s.hidden_size = int(c["n_embd"])
        s.num_layers = int(c["n_layer"])
        s.num_heads = int(c["n_head"])
        s.num_kv_heads = s.num_heads
        s.intermediate_size = int(c["n_inner"] or 4 * s.hidden_size)
        s.max_positions = int(c["n_positions"])
        s.eps = float(c["layer_norm_epsilon"])
        s.tie_word_embeddings = bool(c["tie_word_embeddings"])
        s.bos_token_id, s.eos_token_id = c.get("bos_token_id"), c.get("eos_token_id")
        s.sliding_window = 0
        check_positive(s, ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                           "max_positions"), where)
        if s.hidden_size % s.num_heads:
            raise CheckpointError("%s: n_embd %d is not a multiple of n_head %d" % (where, s.hidden_size, s.num_heads))
        s.head_dim = s.hidden_size // s.num_heads
        s.rotary_dims = int(c["rotary_dim"] if c["rotary_dim"] is not None else s.head_dim)
        if not 0 < s.rotary_dims <= s.head_dim or s.rotary_dims % 2:
            raise CheckpointError("%s: rotary_dim %d must be even and within the head's %d dimensions"
                                  % (where, s.rotary_dims, s.head_dim))
        return s

    def check_max_positions(self, max_positions, where):
        pass  # rotary positions extend to any length

    def windowed_layers(self):
        return []

    def ignorable(self, key):
        return key.endswith(".attn.bias") or key.endswith(".attn.masked_bias") or \
            (self.tie_word_embeddings and key == "lm_head.weight")


class GptjAttention(nn.Module):
    def __init__(self, s: GptjSettings, dtype: torch.dtype):
        super().__init__()
        self.heads, self.head_dim = s.num_heads, s.head_dim
        self.q_proj = meta_linear(s.hidden_size, s.hidden_size, False, dtype)
        self.k_proj = meta_linear(s.hidden_size, s.hidden_size, False, dtype)
        self.v_proj = meta_linear(s.hidden_size, s.hidden_size, False, dtype)
        self.out_proj = meta_linear(s.hidden_size, s.hidden_size, False, dtype)

    def forward(self, h: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        q, k, v = self.project_qkv(h, cos, sin)
        attended, probs = manipulated_attention(q, torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2),
                                                modifier, past_k.size(2), 0, log_additive)
        return self.out_proj(merge_heads(attended)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        q, k, v = self.project_qkv(h, cos, sin)
        return self.out_proj(merge_heads(lrp_attention(q, k, v)))

    def project_qkv(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        q = split_heads(self.q_proj(h), self.heads, self.head_dim)
        k = split_heads(self.k_proj(h), self.heads, self.head_dim)
        v = split_heads(self.v_proj(h), self.heads, self.head_dim)
        return rotate_interleaved(q, cos, sin), rotate_interleaved(k, cos, sin), v


class GptjMLP(nn.Module):
    def __init__(self, s: GptjSettings, dtype: torch.dtype):
        super().__init__()
        self.fc_in = meta_linear(s.hidden_size, s.intermediate_size, True, dtype)
        self.fc_out = meta_linear(s.intermediate_size, s.hidden_size, True, dtype)
        self.act = activation(s.activation, "config.json")

    def forward(self, x: Tensor) -> Tensor:
        return self.fc_out(self.act(self.fc_in(x)))

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return self.fc_out(self.act.forward_lrp(self.fc_in(x)))


class GptjBlock(nn.Module):
    def __init__(self, s: GptjSettings, dtype: torch.dtype):
        super().__init__()
        self.ln_1 = LayerNorm(s.hidden_size, s.eps, dtype)
        self.attn = GptjAttention(s, dtype)
        self.mlp = GptjMLP(s, dtype)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        h = self.ln_1(x)
        attended, k, v, probs = self.attn(h, cos, sin, modifier, past_k, past_v, log_additive)
        return x + attended + self.mlp(h), k, v, probs

    @torch.jit.export
    def forward_lrp(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        h = self.ln_1.forward_lrp(x)
        return x + self.attn.forward_lrp(h, cos, sin) + self.mlp.forward_lrp(h)


class GptjModel(nn.Module):
    def __init__(self, s: GptjSettings, dtype: torch.dtype):
        super().__init__()
        self.wte = nn.Embedding(s.vocab_size, s.hidden_size, device="meta", dtype=dtype)
        self.h = nn.ModuleList([GptjBlock(s, dtype) for _ in range(s.num_layers)])
        self.ln_f = LayerNorm(s.hidden_size, s.eps, dtype)


class GptjForCausalLM(RotaryDecoder):
    """The network, Hugging Face's module tree; the passes (`run`, every
    pass the contract methods need) are rotary_decoder.RotaryDecoder's."""

    def __init__(self, s: GptjSettings, max_positions: int, dtype: torch.dtype):
        super().__init__(s, max_positions)
        self.transformer = GptjModel(s, dtype)
        self.lm_head = meta_linear(s.hidden_size, s.vocab_size, True, dtype)
        self.rotary_dims, self.tie_word_embeddings = s.rotary_dims, s.tie_word_embeddings

    def allocate(self):
        self.to_empty(device="cpu")
        if self.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight
        self.set_rotary_tables(*rotary_tables_for(inverse_frequencies(self.rotary_dims, 10000.0),
                                                  self.max_positions, "interleaved"))

    @property
    def decoder_layers(self):
        return self.transformer.h

    @property
    def final_norm(self):
        return self.transformer.ln_f

    @property
    def token_embedding(self):
        return self.transformer.wte

    @torch.jit.export
    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.transformer.wte(ids)


class GptjExplainableModel(TextOnlyContract):
    def __init__(self, s: GptjSettings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = GptjForCausalLM(s, max_positions, dtype)
        self.language_model.allocate()
