"""GPT2LMHeadModel as an explainable model, from the published definition
(Radford et al. 2019; Hugging Face's GPT2Config keys): learned absolute
positions, pre-LayerNorm blocks x + attn(ln_1 x), x + mlp(ln_2 x), Conv1D
weights stored [in, out], c_attn fusing q, k, v (in that order, each D
wide), gelu_new, a final ln_f and a head tied to the token embedding.

Positions: embed_text(ids) returns the token embedding wte[ids] only; the
network adds wpe[p] to the input of sequence position p itself (p counted
from 0 over the whole sequence: image patches, BOS, text and target alike;
a pass that starts after a cached prefix of P positions adds wpe[P..]). So
the embeddings of one text keep no position of their own, prefix reuse and
generation with the KV cache add the same rows as a full pass, and the
conceptual similarity of docs/method.md compares token embeddings.

AtMan: every layer calls atman_attention.manipulated_attention on
H = QK^T / sqrt(dh) (scale_attn_weights), the modification before the causal
mask. Refused: scale_attn_weights false, scale_attn_by_inverse_layer_idx or
reorder_and_upcast_attn true, add_cross_attention, activations other than
gelu_new/gelu_pytorch_tanh/gelu/relu, a --max-positions beyond n_positions.

Checkpoint keys map one to one: `language_model.` + the key
(transformer.h.0.attn.c_attn.weight); folders saved from GPT2Model (GPT-2's
own, keys without "transformer.") get the prefix (prefixed_source.py); their
causal-mask buffers (attn.bias, attn.masked_bias) are ignored.

Usage: s = Gpt2Settings.from_hf(config, "config.json")
       model = Gpt2ExplainableModel(s, max_positions, dtype)
       load_weights(model, with_base_prefix(source, "transformer."), prefix="language_model.",
                    ignorable=s.ignorable)"""
from typing import List, Tuple

import torch
from torch import Tensor, nn

from ..atman_attention import lrp_attention, manipulated_attention

from .errors import CheckpointError
from .gpt_blocks import (Conv1D, LayerNorm, TextOnlyContract, activation, check_positive, merge_heads,
                         meta_linear, refuse_unless, split_heads)

# GPT2Config's defaults for keys a config.json may leave out.
DEFAULTS = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                activation_function="gelu_new", layer_norm_epsilon=1e-5, scale_attn_weights=True,
                scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False, add_cross_attention=False,
                tie_word_embeddings=True, bos_token_id=50256, eos_token_id=50256)


class Gpt2Settings:
    """The shape of a GPT-2 model, read from a Hugging Face config."""

    @staticmethod
    def from_hf(config, where):
        c = dict(DEFAULTS, **{k: v for k, v in config.items() if v is not None or k == "n_inner"})
        refuse_unless(c, "scale_attn_weights", [True], where, "the scores would not be divided by sqrt(d_head)")
        refuse_unless(c, "scale_attn_by_inverse_layer_idx", [False], where,
                      "supported: false; AtMan's scores are QK^T/sqrt(d_head) in every layer")
        refuse_unless(c, "reorder_and_upcast_attn", [False], where, "supported: false")
        refuse_unless(c, "add_cross_attention", [False], where, "a decoder-only language model has no encoder")
        s = Gpt2Settings()
        s.activation = c["activation_function"]
        activation(s.activation, where)  # refused here, before any weight is read
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
        return s

    def check_max_positions(self, max_positions, where):
        if max_positions > self.max_positions:
            raise CheckpointError("%s: --max-positions %d exceeds n_positions %d: GPT-2's positions are learned, "
                                  "one row of wpe each" % (where, max_positions, self.max_positions))

    def windowed_layers(self):
        return []

    def ignorable(self, key):
        """Old checkpoints' causal-mask buffers, and a tied head's stored copy."""
        return key.endswith(".attn.bias") or key.endswith(".attn.masked_bias") or \
            (self.tie_word_embeddings and key == "lm_head.weight")


class Gpt2Attention(nn.Module):
    def __init__(self, s: Gpt2Settings, dtype: torch.dtype):
        super().__init__()
        self.heads, self.head_dim, self.width = s.num_heads, s.head_dim, s.hidden_size
        self.c_attn = Conv1D(s.hidden_size, 3 * s.hidden_size, dtype)
        self.c_proj = Conv1D(s.hidden_size, s.hidden_size, dtype)

    def forward(self, h: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """h [B,S,D] of positions P..P+S-1, past_k/v [B,H,P,dh]. Returns
        (output [B,S,D], this call's keys and values [B,H,S,dh], probabilities [B,H,S,P+S])."""
        q, k, v = self.project_qkv(h)
        attended, probs = manipulated_attention(q, torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2),
                                                modifier, past_k.size(2), 0, log_additive)
        return self.c_proj(merge_heads(attended)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, h: Tensor) -> Tensor:
        q, k, v = self.project_qkv(h)
        return self.c_proj(merge_heads(lrp_attention(q, k, v)))

    def project_qkv(self, h: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        fused = self.c_attn(h)
        q = split_heads(fused[:, :, :self.width], self.heads, self.head_dim)
        k = split_heads(fused[:, :, self.width:2 * self.width], self.heads, self.head_dim)
        v = split_heads(fused[:, :, 2 * self.width:], self.heads, self.head_dim)
        return q, k, v


class Gpt2MLP(nn.Module):
    def __init__(self, s: Gpt2Settings, dtype: torch.dtype):
        super().__init__()
        self.c_fc = Conv1D(s.hidden_size, s.intermediate_size, dtype)
        self.c_proj = Conv1D(s.intermediate_size, s.hidden_size, dtype)
        self.act = activation(s.activation, "config.json")

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(self.act(self.c_fc(x)))

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return self.c_proj(self.act.forward_lrp(self.c_fc(x)))


class Gpt2Block(nn.Module):
    def __init__(self, s: Gpt2Settings, dtype: torch.dtype):
        super().__init__()
        self.ln_1 = LayerNorm(s.hidden_size, s.eps, dtype)
        self.attn = Gpt2Attention(s, dtype)
        self.ln_2 = LayerNorm(s.hidden_size, s.eps, dtype)
        self.mlp = Gpt2MLP(s, dtype)

    def forward(self, x: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        attended, k, v, probs = self.attn(self.ln_1(x), modifier, past_k, past_v, log_additive)
        x = x + attended
        return x + self.mlp(self.ln_2(x)), k, v, probs

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        x = x + self.attn.forward_lrp(self.ln_1.forward_lrp(x))
        return x + self.mlp.forward_lrp(self.ln_2.forward_lrp(x))


class Gpt2Model(nn.Module):
    def __init__(self, s: Gpt2Settings, dtype: torch.dtype):
        super().__init__()
        self.wte = nn.Embedding(s.vocab_size, s.hidden_size, device="meta", dtype=dtype)
        self.wpe = nn.Embedding(s.max_positions, s.hidden_size, device="meta", dtype=dtype)
        self.h = nn.ModuleList([Gpt2Block(s, dtype) for _ in range(s.num_layers)])
        self.ln_f = LayerNorm(s.hidden_size, s.eps, dtype)


class Gpt2LMHeadModel(nn.Module):
    """The network, Hugging Face's module tree; `run` is every pass the
    contract methods need (llama.ContractMethods): positions P..P+S-1 over a
    cache of P positions."""

    def __init__(self, s: Gpt2Settings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.transformer = Gpt2Model(s, dtype)
        self.lm_head = meta_linear(s.hidden_size, s.vocab_size, False, dtype)
        self.num_layers, self.heads, self.head_dim = s.num_layers, s.num_heads, s.head_dim
        self.max_positions = max_positions
        self.tie_word_embeddings = s.tie_word_embeddings

    def allocate(self):
        self.to_empty(device="cpu")
        if self.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    @torch.jit.export
    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.transformer.wte(ids)

    def with_positions(self, x: Tensor, start: int) -> Tensor:
        """x plus the learned position rows of positions start..start+S-1."""
        length = x.size(1)
        if start + length > self.max_positions:
            raise RuntimeError("positions " + str(start) + ".." + str(start + length - 1)
                               + " exceed the model's max_positions " + str(self.max_positions))
        return x + self.transformer.wpe.weight[start:start + length]

    def run(self, x: Tensor, modifier: Tensor, cache: Tensor, keep_kv: bool,
            keep_probs: bool, log_additive: bool = False) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
        """x [B,S,D] token embeddings of positions P..P+S-1; modifier [B,P+S];
        cache [L,2,H,P,dh]. Returns (final normalised hidden states [B,S,D],
        per layer [2,B,H,S,dh] new keys and values when keep_kv, per layer
        [B,H,S,P+S] probabilities when keep_probs)."""
        b = x.size(0)
        x = self.with_positions(x, cache.size(3))
        modifier = modifier.to(x.dtype)
        kvs: List[Tensor] = []
        maps: List[Tensor] = []
        for i, block in enumerate(self.transformer.h):
            past_k = cache[i, 0].unsqueeze(0).expand(b, -1, -1, -1)
            past_v = cache[i, 1].unsqueeze(0).expand(b, -1, -1, -1)
            x, k, v, probs = block(x, modifier, past_k, past_v, log_additive)
            if keep_kv:
                kvs.append(torch.stack([k, v]))
            if keep_probs:
                maps.append(probs)
        return self.transformer.ln_f(x), kvs, maps

    def run_lrp(self, x: Tensor) -> Tensor:
        """AttnLRP's pass over positions 0..S-1; the position rows enter as a
        bias would (Input x Gradient on the token embeddings)."""
        x = self.with_positions(x, 0)
        for block in self.transformer.h:
            x = block.forward_lrp(x)
        return self.transformer.ln_f.forward_lrp(x)

    def empty_cache(self, like: Tensor) -> Tensor:
        return like.new_zeros(self.num_layers, 2, self.heads, 0, self.head_dim)


class Gpt2ExplainableModel(TextOnlyContract):
    def __init__(self, s: Gpt2Settings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.language_model = Gpt2LMHeadModel(s, max_positions, dtype)
        self.language_model.allocate()
