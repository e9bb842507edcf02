"""LLaVA (LlavaForConditionalGeneration: LLaVA-1.5, llava-interleave-qwen) as
an explainable image-text model: a CLIP vision tower (convolutional patch
embedding, class token, position embedding, pre-LayerNorm, encoder layers
with quick_gelu) or a SigLIP one (siglip_vision.py: no class token,
gelu_pytorch_tanh), the hidden states of `vision_feature_layer`, CLIP's class
token dropped (`vision_feature_select_strategy` "default"; SigLIP's "full"
keeps every patch), the two-layer GELU projector linear_2(gelu(linear_1 x)),
and a LLaMA, Mistral or Qwen2 text model (llama.py) whose every attention
layer carries the AtMan modifier. The vision tower is
plain attention: the modifier acts on the language model's keys, image
positions included.

Module names are Hugging Face's keys (transformers 4.3x layout):
vision_tower.vision_model.*, multi_modal_projector.linear_1/2.*,
language_model.model.*, language_model.lm_head.*.

Usage: settings = LlavaSettings.from_hf(config, "config.json")
       model = LlavaExplainableModel(settings, max_positions, dtype)
       load_weights(model, source, ignorable=settings.ignorable)"""
import json
import math
import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import CheckpointError
from .llama import ContractMethods, LlamaForCausalLM, LlamaSettings
from .siglip_vision import SIGLIP_DEFAULTS, SIGLIP_MEAN, SIGLIP_STD, SiglipVisionModel

CLIP_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                     num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5)
LLAVA_DEFAULTS = dict(image_token_index=32000, projector_hidden_act="gelu", vision_feature_select_strategy="default",
                      vision_feature_layer=-2, multimodal_projector_bias=True)
# Per tower: its config defaults, hidden_act, the select strategy that keeps
# a grid of patches (CLIP: drop the class token; SigLIP has none), and
# whether it has a class token.
VISION_TOWERS = {"clip_vision_model": (CLIP_DEFAULTS, "quick_gelu", "default", True),
                 "siglip_vision_model": (SIGLIP_DEFAULTS, "gelu_pytorch_tanh", "full", False)}
# Pillow's filter numbers (PIL.Image.Resampling), as preprocessor_config.json's
# "resample" gives them, and the contract's image.resample for each.
PIL_RESAMPLE = {1: "pil_lanczos", 2: "pil_bilinear", 3: "pil_bicubic", 4: "pil_box", 5: "pil_hamming"}
# CLIPImageProcessor's defaults (OpenAI CLIP's normalisation).
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class LlavaSettings:
    @staticmethod
    def from_hf(config, where):
        c = dict(LLAVA_DEFAULTS, **{k: v for k, v in config.items() if v is not None})
        vision = dict(c.get("vision_config") or {})
        tower = vision.get("model_type", "clip_vision_model")
        if tower not in VISION_TOWERS:
            raise CheckpointError("%s: vision tower %r is not supported (supported: %s)"
                                  % (where, tower, ", ".join(VISION_TOWERS)))
        defaults, act, strategy, class_token = VISION_TOWERS[tower]
        vision = dict(defaults, **{k: v for k, v in vision.items() if v is not None})
        if vision["hidden_act"] != act:
            raise CheckpointError("%s: vision hidden_act %r is not supported for %s (supported: %s)"
                                  % (where, vision["hidden_act"], tower, act))
        if c["projector_hidden_act"] != "gelu":
            raise CheckpointError("%s: projector_hidden_act %r is not supported (supported: gelu)"
                                  % (where, c["projector_hidden_act"]))
        if c["vision_feature_select_strategy"] != strategy:
            # CLIP's "full" keeps the class token, SigLIP's "default" drops its
            # first patch: neither leaves P = grid_h * grid_w row-major positions.
            raise CheckpointError("%s: vision_feature_select_strategy %r is not supported with %s (supported: %s; "
                                  "the contract's image positions form a grid%s)"
                                  % (where, c["vision_feature_select_strategy"], tower, strategy,
                                     ", without a class token" if class_token else ", every patch kept"))
        text = dict(c.get("text_config") or {})
        s = LlavaSettings()
        s.tower = tower
        s.text = LlamaSettings.from_hf(text, where + " text_config", text.get("model_type", "llama"))
        s.hidden, s.intermediate = int(vision["hidden_size"]), int(vision["intermediate_size"])
        s.layers, s.heads = int(vision["num_hidden_layers"]), int(vision["num_attention_heads"])
        s.channels, s.image_size, s.patch = int(vision["num_channels"]), int(vision["image_size"]), \
            int(vision["patch_size"])
        s.eps = float(vision["layer_norm_eps"])
        if s.image_size % s.patch or s.hidden % s.heads or s.channels != 3:
            raise CheckpointError("%s: vision_config image_size %d, patch_size %d, hidden_size %d, heads %d, "
                                  "channels %d do not make a vision tower" % (where, s.image_size, s.patch, s.hidden,
                                                                            s.heads, s.channels))
        s.grid = s.image_size // s.patch
        layer = c["vision_feature_layer"]
        if type(layer) is not int or not -s.layers - 1 <= layer <= s.layers:
            raise CheckpointError("%s: vision_feature_layer %r is not supported (supported: one integer in "
                                  "-%d..%d)" % (where, layer, s.layers + 1, s.layers))
        # hidden_states[0] is the pre-LayerNorm's output, [k] that of layer k:
        # only the first `used_layers` encoder layers matter.
        s.used_layers = layer if layer >= 0 else s.layers + 1 + layer
        if s.used_layers == 0 and tower == "siglip_vision_model":
            raise CheckpointError("%s: vision_feature_layer %d selects SigLIP's patch embeddings (supported: an "
                                  "encoder layer's output)" % (where, layer))
        s.projector_bias = bool(c["multimodal_projector_bias"])
        s.image_token_index = c["image_token_index"]
        return s

    def ignorable(self, key):
        """The tower's post-LayerNorm, SigLIP's pooling head and the layers
        after the feature layer do not reach the features; rotary caches; a
        tied head's copy."""
        if key.startswith("language_model."):
            return self.text.ignorable(key[len("language_model."):])
        if key in ("vision_tower.vision_model.post_layernorm.weight", "vision_tower.vision_model.post_layernorm.bias",
                   "vision_tower.vision_model.embeddings.position_ids"):
            return True
        if self.tower == "siglip_vision_model" and key.startswith("vision_tower.vision_model.head."):
            return True
        layer = re.match(r"vision_tower\.vision_model\.encoder\.layers\.(\d+)\.", key)
        return bool(layer) and self.used_layers <= int(layer.group(1)) < self.layers

    def image_config(self, preprocessor, resize_override, where):
        """The contract's `image` entry from preprocessor_config.json: a
        CLIPImageProcessor (shorter side to the size, centre crop) or a
        SiglipImageProcessor (straight to the size), both resizing with
        Pillow's filter `resample` (bicubic by default)."""
        siglip = self.tower == "siglip_vision_model"
        crop = preprocessor.get("do_center_crop", not siglip)
        size = preprocessor.get("crop_size" if crop else "size", self.image_size)
        if isinstance(size, dict):
            size = [size.get("height", size.get("shortest_edge")), size.get("width", size.get("shortest_edge"))]
        elif isinstance(size, int):
            size = [size, size]
        if size != [self.image_size, self.image_size]:
            raise CheckpointError("%s: image size %s differs from the vision tower's image_size %d"
                                  % (where, size, self.image_size))
        # The contract always resizes, rescales by 1/255 and normalises.
        for key, want in (("do_resize", True), ("do_rescale", True), ("do_normalize", True)):
            if preprocessor.get(key, want) is not want:
                raise CheckpointError("%s: %s %s is not supported (supported: %s)"
                                      % (where, key, json.dumps(preprocessor[key]), json.dumps(want)))
        factor = preprocessor.get("rescale_factor", 1 / 255)
        if not isinstance(factor, (int, float)) or abs(factor * 255 - 1) > 1e-9:
            raise CheckpointError("%s: rescale_factor %r is not supported (supported: 1/255)" % (where, factor))
        resample = preprocessor.get("resample", 3)
        if resample not in PIL_RESAMPLE:
            raise CheckpointError("%s: resample %r is not supported (supported: Pillow's %s)"
                                  % (where, resample, ", ".join("%d (%s)" % (k, v[4:]) for k, v in
                                                                sorted(PIL_RESAMPLE.items()))))
        return {"size": size, "grid": [self.grid, self.grid],
                "mean": [float(x) for x in preprocessor.get("image_mean", SIGLIP_MEAN if siglip else CLIP_MEAN)],
                "std": [float(x) for x in preprocessor.get("image_std", SIGLIP_STD if siglip else CLIP_STD)],
                "resize": resize_override or ("center_crop" if crop else "stretch"),
                "resample": PIL_RESAMPLE[resample]}


def layer_norm(width: int, eps: float, dtype: torch.dtype) -> nn.LayerNorm:
    return nn.LayerNorm(width, eps=eps, device="meta", dtype=dtype)


def linear(n_in: int, n_out: int, bias: bool, dtype: torch.dtype) -> nn.Linear:
    return nn.Linear(n_in, n_out, bias=bias, device="meta", dtype=dtype)


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.empty(s.hidden, device="meta", dtype=dtype))
        self.patch_embedding = nn.Conv2d(s.channels, s.hidden, s.patch, stride=s.patch, bias=False, device="meta",
                                         dtype=dtype)
        self.position_embedding = nn.Embedding(s.grid * s.grid + 1, s.hidden, device="meta", dtype=dtype)

    def forward(self, pixels: Tensor) -> Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(pixels.size(0), 1, -1)
        return torch.cat([cls, patches], dim=1) + self.position_embedding.weight


class CLIPAttention(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.heads = s.heads
        self.q_proj = linear(s.hidden, s.hidden, True, dtype)
        self.k_proj = linear(s.hidden, s.hidden, True, dtype)
        self.v_proj = linear(s.hidden, s.hidden, True, dtype)
        self.out_proj = linear(s.hidden, s.hidden, True, dtype)

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.size(0), x.size(1), x.size(2)
        dh = d // self.heads
        q = self.q_proj(x).view(b, n, self.heads, dh).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.heads, dh).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.heads, dh).transpose(1, 2)
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(dh)), dim=-1)
        return self.out_proj(torch.matmul(probs, v).transpose(1, 2).reshape(b, n, d))


class CLIPMLP(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.fc1 = linear(s.hidden, s.intermediate, True, dtype)
        self.fc2 = linear(s.intermediate, s.hidden, True, dtype)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.self_attn = CLIPAttention(s, dtype)
        self.layer_norm1 = layer_norm(s.hidden, s.eps, dtype)
        self.mlp = CLIPMLP(s, dtype)
        self.layer_norm2 = layer_norm(s.hidden, s.eps, dtype)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(s, dtype) for _ in range(s.used_layers)])


class CLIPVisionTransformer(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(s, dtype)
        self.pre_layrnorm = layer_norm(s.hidden, s.eps, dtype)  # sic: Hugging Face's key
        self.encoder = CLIPEncoder(s, dtype)

    def forward(self, pixels: Tensor) -> Tensor:
        """Hidden states of the feature layer, class token dropped: [B, grid*grid, hidden]."""
        x = self.pre_layrnorm(self.embeddings(pixels))
        for layer in self.encoder.layers:
            x = layer(x)
        return x[:, 1:]


class CLIPVisionModel(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.vision_model = CLIPVisionTransformer(s, dtype)


class LlavaMultiModalProjector(nn.Module):
    def __init__(self, s: LlavaSettings, dtype: torch.dtype):
        super().__init__()
        self.linear_1 = linear(s.hidden, s.text.hidden_size, s.projector_bias, dtype)
        self.linear_2 = linear(s.text.hidden_size, s.text.hidden_size, s.projector_bias, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear_2(F.gelu(self.linear_1(x)))


class LlavaExplainableModel(ContractMethods):
    """embed_image: pixels [B,3,S,S] (normalised as the processor does) -> [B, grid*grid, D]."""

    def __init__(self, s: LlavaSettings, max_positions: int, dtype: torch.dtype):
        super().__init__()
        self.vision_tower = SiglipVisionModel(s, dtype) if s.tower == "siglip_vision_model" \
            else CLIPVisionModel(s, dtype)
        self.multi_modal_projector = LlavaMultiModalProjector(s, dtype)
        self.language_model = LlamaForCausalLM(s.text, max_positions, dtype)
        self.vision_tower.to_empty(device="cpu")
        self.multi_modal_projector.to_empty(device="cpu")
        self.language_model.allocate()

    @torch.jit.export
    def embed_image(self, pixels: Tensor) -> Tensor:
        return self.multi_modal_projector(self.vision_tower.vision_model(pixels))
