"""SigLIP's vision tower (SiglipVisionModel, model_type "siglip_vision_model")
as LLaVA uses it (llava-interleave-qwen): a convolutional patch embedding
with bias, a learned position embedding per patch and no class token, then
pre-LayerNorm encoder layers whose MLP uses gelu_pytorch_tanh (GELU's tanh
approximation). LLaVA reads the hidden states of `vision_feature_layer`
(Hugging Face's hidden_states[k]: the embeddings for k = 0, the output of
encoder layer k otherwise), which never pass through the tower's
post_layernorm or its pooling head: both are in the checkpoint and unused.

Module names are Hugging Face's keys: vision_tower.vision_model.embeddings.*,
vision_tower.vision_model.encoder.layers.N.*.

Usage: tower = SiglipVisionModel(settings, dtype)   # settings: clip_llava.LlavaSettings
       features = tower.vision_model(pixels)         # [B, grid*grid, hidden]"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SIGLIP_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       num_channels=3, image_size=224, patch_size=16, hidden_act="gelu_pytorch_tanh",
                       layer_norm_eps=1e-6)
# SiglipImageProcessor's defaults: 224 x 224, bicubic, mean and std 0.5 (IMAGENET_STANDARD_*).
SIGLIP_MEAN = [0.5, 0.5, 0.5]
SIGLIP_STD = [0.5, 0.5, 0.5]


def linear(n_in: int, n_out: int, dtype: torch.dtype) -> nn.Linear:
    return nn.Linear(n_in, n_out, bias=True, device="meta", dtype=dtype)


class SiglipVisionEmbeddings(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.patch_embedding = nn.Conv2d(s.channels, s.hidden, s.patch, stride=s.patch, bias=True, device="meta",
                                         dtype=dtype)
        self.position_embedding = nn.Embedding(s.grid * s.grid, s.hidden, device="meta", dtype=dtype)

    def forward(self, pixels: Tensor) -> Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        return patches + self.position_embedding.weight


class SiglipAttention(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.heads = s.heads
        self.q_proj = linear(s.hidden, s.hidden, dtype)
        self.k_proj = linear(s.hidden, s.hidden, dtype)
        self.v_proj = linear(s.hidden, s.hidden, dtype)
        self.out_proj = linear(s.hidden, s.hidden, dtype)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.size(0), x.size(1), x.size(2)
        dh = d // self.heads
        q = self.q_proj(x).view(b, n, self.heads, dh).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.heads, dh).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.heads, dh).transpose(1, 2)
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(dh)), dim=-1)
        return self.out_proj(torch.matmul(probs, v).transpose(1, 2).reshape(b, n, d))


class SiglipMLP(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.fc1 = linear(s.hidden, s.intermediate, dtype)
        self.fc2 = linear(s.intermediate, s.hidden, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))  # gelu_pytorch_tanh


class SiglipEncoderLayer(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(s.hidden, eps=s.eps, device="meta", dtype=dtype)
        self.self_attn = SiglipAttention(s, dtype)
        self.layer_norm2 = nn.LayerNorm(s.hidden, eps=s.eps, device="meta", dtype=dtype)
        self.mlp = SiglipMLP(s, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class SiglipEncoder(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.layers = nn.ModuleList([SiglipEncoderLayer(s, dtype) for _ in range(s.used_layers)])


class SiglipVisionTransformer(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.embeddings = SiglipVisionEmbeddings(s, dtype)
        self.encoder = SiglipEncoder(s, dtype)

    def forward(self, pixels: Tensor) -> Tensor:
        """Hidden states of the feature layer, every patch: [B, grid*grid, hidden]."""
        x = self.embeddings(pixels)
        for layer in self.encoder.layers:
            x = layer(x)
        return x


class SiglipVisionModel(nn.Module):
    def __init__(self, s, dtype: torch.dtype):
        super().__init__()
        self.vision_model = SiglipVisionTransformer(s, dtype)
