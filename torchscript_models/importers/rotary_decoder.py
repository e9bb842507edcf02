"""The passes every rotary decoder-only network runs (GPT-J, GPT-NeoX,
Gemma-2, Phi-3): `run` (AtMan's pass over a KV cache), `run_lrp` (AttnLRP's
pass), `rotary` (the tables of a span of positions) and `empty_cache`, one
copy for all, in TorchScript.

A subclass keeps Hugging Face's module tree (the checkpoint's key names);
three properties name its parts for these passes: `decoder_layers` (the
ModuleList of layers, each a DecoderLayer below), `final_norm` and
`token_embedding` (whose weight's dtype the tables are cast to: a bfloat16
copy computes in bfloat16), by default LLaMA's model.layers, model.norm and
model.embed_tokens. It calls set_rotary_tables() in allocate(); a model
whose tables depend on the sequence (Phi-3's longrope) overrides tables_for().

TorchScript iterates a ModuleList only where the source names it, so the
passes index the property's list with a DecoderLayer-typed variable (a
module interface) instead.

Usage: class GptjForCausalLM(RotaryDecoder):
           @property
           def decoder_layers(self):
               return self.transformer.h
           ...
       hidden, kvs, maps = lm.run(x, modifier, lm.empty_cache(x), keep_kv, keep_probs)"""
from typing import List, Tuple

import torch
from torch import Tensor, nn


@torch.jit.interface
class DecoderLayer(nn.Module):
    """A layer: x [B,S,D] of positions P..P+S-1, cos/sin theirs, past keys and
    values [B,Hkv,P,dh] -> (x, this call's keys and values, probabilities)."""

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor, past_k: Tensor, past_v: Tensor,
                log_additive: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        pass

    def forward_lrp(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        pass


class RotaryDecoder(nn.Module):
    def __init__(self, s, max_positions: int):
        """s: the settings (num_layers, num_kv_heads, head_dim); max_positions: the tables' length."""
        super().__init__()
        self.num_layers, self.kv_heads, self.head_dim = s.num_layers, s.num_kv_heads, s.head_dim
        self.max_positions = max_positions

    # The parts the passes use, where LLaMA's tree has them (model.layers,
    # model.norm, model.embed_tokens); a network with other names overrides them.
    @property
    def decoder_layers(self):
        return self.model.layers

    @property
    def final_norm(self):
        return self.model.norm

    @property
    def token_embedding(self):
        return self.model.embed_tokens

    def set_rotary_tables(self, cos: Tensor, sin: Tensor, name: str = "rot"):
        """Stores float64 tables [max_positions, rot] as float32 buffers (not saved in the state dict)."""
        self.register_buffer(name + "_cos", cos.float(), persistent=False)
        self.register_buffer(name + "_sin", sin.float(), persistent=False)

    def tables_for(self, end: int) -> Tuple[Tensor, Tensor]:
        """The tables a sequence of `end` positions uses."""
        return self.rot_cos, self.rot_sin

    def rotary(self, start: int, length: int) -> Tuple[Tensor, Tensor]:
        """The rotary tables of positions start..start+length-1 in the parameters' dtype."""
        end = start + length
        if end > self.max_positions:
            raise RuntimeError("positions " + str(start) + ".." + str(end - 1)
                               + " exceed the model's max_positions " + str(self.max_positions))
        dtype = self.token_embedding.weight.dtype
        cos, sin = self.tables_for(end)
        return cos[start:end].to(dtype), sin[start:end].to(dtype)

    def run(self, x: Tensor, modifier: Tensor, cache: Tensor, keep_kv: bool,
            keep_probs: bool, log_additive: bool = False) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
        """x [B,S,D] embeddings of positions P..P+S-1; modifier [B,P+S]
        (factors, or with log_additive the additive bias); cache
        [L,2,Hkv,P,dh] (P may be 0), shared by the batch. Returns (final
        normalised hidden states [B,S,D], per layer [2,B,Hkv,S,dh] new keys
        and values when keep_kv, per layer [B,H,S,P+S] probabilities when
        keep_probs)."""
        b = x.size(0)
        cos, sin = self.rotary(cache.size(3), x.size(1))
        modifier = modifier.to(x.dtype)
        kvs: List[Tensor] = []
        maps: List[Tensor] = []
        for i in range(self.num_layers):
            layer: DecoderLayer = self.decoder_layers[i]
            past_k = cache[i, 0].unsqueeze(0).expand(b, -1, -1, -1)
            past_v = cache[i, 1].unsqueeze(0).expand(b, -1, -1, -1)
            x, k, v, probs = layer.forward(x, cos, sin, modifier, past_k, past_v, log_additive)
            if keep_kv:
                kvs.append(torch.stack([k, v]))
            if keep_probs:
                maps.append(probs)
        return self.final_norm.forward(x), kvs, maps

    def run_lrp(self, x: Tensor) -> Tensor:
        """Final normalised hidden states [B,S,D] of positions 0..S-1 with
        AttnLRP's rules (forward_lrp, lrp_rules.py)."""
        cos, sin = self.rotary(0, x.size(1))
        for i in range(self.num_layers):
            layer: DecoderLayer = self.decoder_layers[i]
            x = layer.forward_lrp(x, cos, sin)
        return self.final_norm.forward_lrp(x)

    def empty_cache(self, like: Tensor) -> Tensor:
        return like.new_zeros(self.num_layers, 2, self.kv_heads, 0, self.head_dim)
