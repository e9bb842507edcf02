"""Building blocks shared by the GPT-style importers (gpt2.py, gpt_neox.py,
gptj.py, gemma2.py, phi3.py), each with its AttnLRP form (forward_lrp,
lrp_rules.py): LayerNorm, GPT-2's Conv1D (a linear layer stored transposed:
weight [in, out]), the activations the configs name, and the text-only
contract shell (TextOnlyContract; TextOnlyEmbedding alone for a model
without the cache methods).

Parameters are made on the meta device (no initialisation the checkpoint
overwrites); the model's allocate() calls to_empty() once, in the output dtype.

Usage: ln = LayerNorm(width, eps, dtype); y = ln(x); y = ln.forward_lrp(x)
       proj = Conv1D(n_in, n_out, dtype)            # y = x @ weight + bias
       act = activation("gelu_new", where)          # act(x), act.forward_lrp(x)"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..lrp_rules import identity_gelu, identity_layer_norm

from .errors import CheckpointError
from .llama import ContractMethods


def meta_linear(n_in: int, n_out: int, bias: bool, dtype: torch.dtype) -> nn.Linear:
    return nn.Linear(n_in, n_out, bias=bias, device="meta", dtype=dtype)


class LayerNorm(nn.Module):
    """torch.nn.LayerNorm's weight and bias names, in the model's dtype (as
    transformers computes it)."""

    def __init__(self, width: int, eps: float, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(width, device="meta", dtype=dtype))
        self.bias = nn.Parameter(torch.empty(width, device="meta", dtype=dtype))
        self.eps = eps
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, [self.width], self.weight, self.bias, self.eps)

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return identity_layer_norm(x, self.weight, self.bias, self.eps)


class Conv1D(nn.Module):
    """GPT-2's Conv1D: y = x @ weight + bias with weight [in, out], the
    transpose of nn.Linear's (the checkpoint's own layout, so the shapes
    checked at load are the checkpoint's)."""

    def __init__(self, n_in: int, n_out: int, dtype: torch.dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out, device="meta", dtype=dtype))
        self.bias = nn.Parameter(torch.empty(n_out, device="meta", dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        return torch.matmul(x, self.weight) + self.bias


class GeluTanh(nn.Module):
    """gelu_new / gelu_pytorch_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        # Identity rule: x times the detached gate.
        gate = 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
        return x * gate.detach()


class GeluErf(nn.Module):
    """gelu: the exact form x Phi(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return identity_gelu(x)


class Relu(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(x)

    @torch.jit.export
    def forward_lrp(self, x: Tensor) -> Tensor:
        return torch.relu(x)  # x * relu'(x) is relu(x): the identity rule needs nothing


ACTIVATIONS = {"gelu_new": GeluTanh, "gelu_pytorch_tanh": GeluTanh, "gelu_fast": None, "gelu": GeluErf,
               "relu": Relu}


def activation(name, where, key="activation_function"):
    """The module of a config's activation; others are refused (gelu_fast is
    a different polynomial of the same curve: refused rather than approximated)."""
    kind = ACTIVATIONS.get(name)
    if kind is None:
        supported = ", ".join(sorted(k for k, v in ACTIVATIONS.items() if v is not None))
        raise CheckpointError("%s: %s %r is not supported (supported: %s)" % (where, key, name, supported))
    return kind()


def split_heads(x: Tensor, heads: int, head_dim: int) -> Tensor:
    """[B, S, H*dh] -> [B, H, S, dh]."""
    return x.view(x.size(0), x.size(1), heads, head_dim).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """[B, H, S, dh] -> [B, S, H*dh]."""
    return x.transpose(1, 2).reshape(x.size(0), x.size(2), x.size(1) * x.size(3))


class TextOnlyEmbedding(nn.Module):
    """The contract's embedding methods over a `language_model` whose token
    embedding is `embed_tokens()` and which has no image side."""

    @torch.jit.export
    def embed_text(self, ids: Tensor) -> Tensor:
        return self.language_model.embed_tokens(ids)

    @torch.jit.export
    def embed_image(self, pixels: Tensor) -> Tensor:
        raise RuntimeError("embed_image: this is a text-only model (its config has image null)")


class TextOnlyContract(TextOnlyEmbedding, ContractMethods):
    """The contract's methods (llama.ContractMethods) with TextOnlyEmbedding's embedding."""


def check_positive(settings, keys, where):
    for key in keys:
        if getattr(settings, key) <= 0:
            raise CheckpointError("%s: %s must be positive, got %d" % (where, key, getattr(settings, key)))


def refuse_unless(config, key, allowed, where, why):
    """A flag the exact conversion cannot honour: refused unless it holds an allowed value."""
    value = config.get(key, allowed[0])
    if value not in allowed:
        raise CheckpointError("%s: %s %s is not supported (%s)" % (where, key, str(value).lower()
                                                                    if isinstance(value, bool) else repr(value), why))
