"""tiny-magma: a MAGMA-style image-text model (convolutional image prefix +
GPT-J-style causal LM with adapters) that implements the explainable-model
contract of docs/contract.md, and the optional methods documented in
docs/optional_methods.md.

The attention modifier of docs/method.md lives in one function,
`manipulated_attention` (atman_attention.py, shared with the importers),
which every layer calls.

Runs eagerly on any torch >= 1.13 and scripts with torch.jit.script."""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .atman_attention import lrp_attention, manipulated_attention
from .lrp_rules import identity_gelu, identity_layer_norm


def rotate_half(x: Tensor) -> Tensor:
    half = x.size(-1) // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Adapter(nn.Module):
    """MAGMA's bottleneck adapter: x + up(relu(down(x)))."""

    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.up(F.relu(self.down(x)))


class Block(nn.Module):
    """GPT-J block: one LayerNorm, attention and MLP in parallel, adapters
    after each, residual sum."""

    def __init__(self, width: int, heads: int, mlp_width: int, adapter_width: int):
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)
        self.fc_in = nn.Linear(width, mlp_width)
        self.fc_out = nn.Linear(mlp_width, width)
        self.attn_adapter = Adapter(width, adapter_width)
        self.mlp_adapter = Adapter(width, adapter_width)

    def project_qkv(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        b, s, d = h.size(0), h.size(1), h.size(2)
        q, k, v = self.qkv(h).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        return q, k, v

    def finish(self, x: Tensor, h: Tensor, attended: Tensor) -> Tensor:
        b, s, d = x.size(0), x.size(1), x.size(2)
        attended = attended.transpose(1, 2).reshape(b, s, d)
        mlp = self.fc_out(F.gelu(self.fc_in(h)))
        return x + self.attn_adapter(self.out(attended)) + self.mlp_adapter(mlp)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, modifier: Tensor,
                past_k: Tensor, past_v: Tensor, log_additive: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """x [B,S,D] are positions past_k.size(2) .. ; past_k/v [B,H,P,dh]
        (P may be 0); modifier holds factors, or with log_additive the
        additive bias (atman_attention.py). Returns (x, k, v, attention
        probabilities) where k, v hold this call's positions only."""
        h = self.ln(x)
        q, k, v = self.project_qkv(h, cos, sin)
        keys = torch.cat([past_k, k], dim=2)
        values = torch.cat([past_v, v], dim=2)
        attended, probs = manipulated_attention(q, keys, values, modifier, past_k.size(2), 0, log_additive)
        return self.finish(x, h, attended), k, v, probs

    @torch.jit.export
    def forward_lrp(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """The block on positions 0..S-1 with AttnLRP's rules (lrp_rules.py)."""
        b, s, d = x.size(0), x.size(1), x.size(2)
        h = identity_layer_norm(x, self.ln.weight, self.ln.bias, self.ln.eps)
        q, k, v = self.project_qkv(h, cos, sin)
        attended = lrp_attention(q, k, v).transpose(1, 2).reshape(b, s, d)
        mlp = self.fc_out(identity_gelu(self.fc_in(h)))
        return x + self.attn_adapter(self.out(attended)) + self.mlp_adapter(mlp)


class ImagePrefix(nn.Module):
    """Convolutional stem (stride 8, receptive field ~60 px) -> grid of
    features -> LayerNorm -> projection to the LM width."""

    def __init__(self, width: int, features: int = 128):
        super().__init__()
        chans = [3, 32, 64, 64, 96, 96, features, features, features]
        strides = [1, 2, 1, 2, 1, 2, 1, 1]
        layers: List[nn.Module] = []
        for i, stride in enumerate(strides):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], 3, stride=stride, padding=1))
            if i + 1 < len(strides):
                layers.append(nn.GELU())
        self.stem = nn.Sequential(*layers)
        self.norm = nn.LayerNorm(features)
        self.proj = nn.Linear(features, width)

    def features(self, pixels: Tensor) -> Tensor:
        return self.norm(self.stem(pixels).flatten(2).transpose(1, 2))

    def forward(self, pixels: Tensor) -> Tensor:
        return self.proj(self.features(pixels))


class TinyMagma(nn.Module):
    """The explainable model. Contract methods: embed_text, embed_image,
    forward. Optional methods: hidden_states, lm_head, prefix_cache,
    hidden_states_from_cache, step_from_cache, forward_with_attentions,
    forward_additive, hidden_states_additive, hidden_states_from_cache_additive
    and forward_lrp (docs/optional_methods.md)."""

    def __init__(self, vocab_size: int, width: int = 256, layers: int = 6, heads: int = 8,
                 mlp_width: int = 768, adapter_width: int = 64, max_positions: int = 256,
                 with_image: bool = True):
        super().__init__()
        self.vocab_size = vocab_size
        self.width = width
        self.num_layers = layers
        self.heads = heads
        self.max_positions = max_positions
        self.with_image = with_image
        self.tokens = nn.Embedding(vocab_size, width)
        self.image = ImagePrefix(width) if with_image else nn.Identity()
        self.blocks = nn.ModuleList([Block(width, heads, mlp_width, adapter_width) for _ in range(layers)])
        self.final_ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        head_dim = width // heads
        inv = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.arange(max_positions).float()[:, None] * inv[None, :]
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("rot_cos", angles.cos(), persistent=False)
        self.register_buffer("rot_sin", angles.sin(), persistent=False)

    # --- contract methods -------------------------------------------------
    @torch.jit.export
    def embed_text(self, ids: Tensor) -> Tensor:
        return self.tokens(ids)

    @torch.jit.export
    def embed_image(self, pixels: Tensor) -> Tensor:
        return self.image(pixels)

    def forward(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        return self.head(self.hidden_states(embeddings, attention_modifier))

    # --- optional methods -------------------------------------------------
    @torch.jit.export
    def lm_head(self, hidden: Tensor) -> Tensor:
        """Final hidden states [..., D] -> logits [..., V]."""
        return self.head(hidden)

    @torch.jit.export
    def hidden_states(self, embeddings: Tensor, attention_modifier: Tensor) -> Tensor:
        """forward without the LM head: final (normalised) hidden states [B,S,D]."""
        return self._hidden_states(embeddings, attention_modifier, False)

    def _hidden_states(self, embeddings: Tensor, control: Tensor, log_additive: bool) -> Tensor:
        x, control = self._broadcast(embeddings, control)
        empty = x.new_zeros(x.size(0), self.heads, 0, self.width // self.heads)
        for block in self.blocks:
            x, _, _, _ = block(x, self._cos(0, x.size(1)), self._sin(0, x.size(1)), control, empty, empty,
                               log_additive)
        return self.final_ln(x)

    @torch.jit.export
    def prefix_cache(self, embeddings: Tensor) -> Tensor:
        """Clean (modifier 1) pass over a prefix [1,P,D]; returns the keys and
        values of every layer, [L, 2, H, P, dh], for hidden_states_from_cache."""
        x = embeddings
        empty = x.new_zeros(1, self.heads, 0, self.width // self.heads)
        modifier = x.new_ones(1, x.size(1))
        cache: List[Tensor] = []
        for block in self.blocks:
            x, k, v, _ = block(x, self._cos(0, x.size(1)), self._sin(0, x.size(1)), modifier, empty, empty)
            cache.append(torch.stack([k[0], v[0]]))
        return torch.stack(cache)

    @torch.jit.export
    def hidden_states_from_cache(self, embeddings: Tensor, cache: Tensor,
                                 attention_modifier: Tensor) -> Tensor:
        """Suffix pass: embeddings [B or 1, S2, D] of positions P .. P+S2-1,
        cache [L,2,H,P,dh] from prefix_cache, attention_modifier [B, P+S2]
        over all keys. Returns final hidden states [B, S2, D]."""
        return self._from_cache(embeddings, cache, attention_modifier, False)

    def _from_cache(self, embeddings: Tensor, cache: Tensor, control: Tensor, log_additive: bool) -> Tensor:
        batch = control.size(0)
        x = embeddings.expand(batch, -1, -1) if embeddings.size(0) == 1 else embeddings
        start = cache.size(3)
        cos, sin = self._cos(start, x.size(1)), self._sin(start, x.size(1))
        for i, block in enumerate(self.blocks):
            past_k = cache[i, 0].unsqueeze(0).expand(batch, -1, -1, -1)
            past_v = cache[i, 1].unsqueeze(0).expand(batch, -1, -1, -1)
            x, _, _, _ = block(x, cos, sin, control, past_k, past_v, log_additive)
        return self.final_ln(x)

    # The log-additive control (docs/optional_methods.md): attention_bias
    # [B, S] (or [B, P+S2] from the cache) is added to each key's score
    # after the 1/sqrt(dh) scaling; -inf removes the key.
    @torch.jit.export
    def forward_additive(self, embeddings: Tensor, attention_bias: Tensor) -> Tensor:
        return self.head(self._hidden_states(embeddings, attention_bias, True))

    @torch.jit.export
    def hidden_states_additive(self, embeddings: Tensor, attention_bias: Tensor) -> Tensor:
        return self._hidden_states(embeddings, attention_bias, True)

    @torch.jit.export
    def hidden_states_from_cache_additive(self, embeddings: Tensor, cache: Tensor,
                                          attention_bias: Tensor) -> Tensor:
        return self._from_cache(embeddings, cache, attention_bias, True)

    @torch.jit.export
    def forward_lrp(self, embeddings: Tensor) -> Tensor:
        """Logits [B,S,V] of the plain model (no modifier), written so that
        Input x Gradient through it is AttnLRP (lrp_rules.py)."""
        x = embeddings
        cos, sin = self._cos(0, x.size(1)), self._sin(0, x.size(1))
        for block in self.blocks:
            x = block.forward_lrp(x, cos, sin)
        ln = self.final_ln
        return self.head(identity_layer_norm(x, ln.weight, ln.bias, ln.eps))

    @torch.jit.export
    def step_from_cache(self, embeddings: Tensor, cache: Tensor,
                        attention_modifier: Tensor) -> Tuple[Tensor, Tensor]:
        """Steered generation: embeddings [1,S2,D] of positions P .. P+S2-1,
        cache [L,2,H,P,dh] (P may be 0), attention_modifier [1,P+S2]. Returns
        (final hidden states [1,S2,D], the cache extended to P+S2 positions)."""
        x = embeddings
        start = cache.size(3)
        cos, sin = self._cos(start, x.size(1)), self._sin(start, x.size(1))
        modifier = attention_modifier.to(x.dtype)
        layers: List[Tensor] = []
        for i, block in enumerate(self.blocks):
            past_k, past_v = cache[i, 0].unsqueeze(0), cache[i, 1].unsqueeze(0)
            x, k, v, _ = block(x, cos, sin, modifier, past_k, past_v)
            layers.append(torch.stack([torch.cat([past_k[0], k[0]], dim=1), torch.cat([past_v[0], v[0]], dim=1)]))
        return self.final_ln(x), torch.stack(layers)

    @torch.jit.export
    def forward_with_attentions(self, embeddings: Tensor,
                                attention_modifier: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """forward that also returns every layer's attention probabilities
        [B,H,S,S] (in the autograd graph, for rollout and Chefer et al.)."""
        x, modifier = self._broadcast(embeddings, attention_modifier)
        empty = x.new_zeros(x.size(0), self.heads, 0, self.width // self.heads)
        maps: List[Tensor] = []
        for block in self.blocks:
            x, _, _, probs = block(x, self._cos(0, x.size(1)), self._sin(0, x.size(1)), modifier, empty, empty)
            maps.append(probs)
        return self.head(self.final_ln(x)), maps

    # --- helpers ----------------------------------------------------------
    def _broadcast(self, embeddings: Tensor, modifier: Tensor) -> Tuple[Tensor, Tensor]:
        if embeddings.size(0) == 1 and modifier.size(0) > 1:
            embeddings = embeddings.expand(modifier.size(0), -1, -1)
        return embeddings, modifier.to(embeddings.dtype)

    def _cos(self, start: int, length: int) -> Tensor:
        return self.rot_cos[start:start + length].to(self.tokens.weight.dtype)

    def _sin(self, start: int, length: int) -> Tensor:
        return self.rot_sin[start:start + length].to(self.tokens.weight.dtype)
