"""AttnLRP's rules (Achtibat et al., ICML 2024, arXiv 2402.05602) as forward
functions whose Input x Gradient is the rule: each returns the plain
function's value, with the right factors detached so that the gradient
splits the relevance as the paper says. Used by forward_lrp
(docs/optional_methods.md); every other pass uses the plain functions.

  identity rule   element-wise activations pass their relevance unchanged:
                  act(x) = x * (act(x) / x), the ratio detached
  identity rule   LayerNorm / RMSNorm: the normaliser (std, rms) detached,
                  so the norm is linear in its input
  uniform rule    a product of two non-constant factors gives each half:
                  a*b = 0.5 * a*b' + 0.5 * a'*b  (' = detached)

ReLU needs nothing (x * relu'(x) = relu(x)); linear layers, sums and
rotary positions need nothing (their gradient is LRP-0's rule)."""
import math

import torch
from torch import Tensor


def uniform_product(a: Tensor, b: Tensor) -> Tensor:
    """a * b, each factor receiving half the relevance."""
    return 0.5 * (a * b.detach()) + 0.5 * (a.detach() * b)


def uniform_matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b, each factor of every product a[i, k] * b[k, j] receiving half
    of that product's share of the relevance."""
    return 0.5 * torch.matmul(a, b.detach()) + 0.5 * torch.matmul(a.detach(), b)


def identity_gelu(x: Tensor) -> Tensor:
    """gelu(x) = x * Phi(x) (erf form), Phi detached."""
    return x * (0.5 * (1.0 + torch.erf(x * (1.0 / math.sqrt(2.0))))).detach()


def identity_softcap(x: Tensor, cap: float) -> Tensor:
    """cap * tanh(x / cap) (Gemma-2's soft-capping), the ratio to x detached."""
    capped = torch.tanh(x / cap) * cap
    ratio = torch.where(x == 0, torch.ones_like(x), capped / torch.where(x == 0, torch.ones_like(x), x))
    return x * ratio.detach()


def identity_silu(x: Tensor) -> Tensor:
    """silu(x) = x * sigmoid(x), the sigmoid detached."""
    return x * torch.sigmoid(x).detach()


def identity_layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """LayerNorm over the last dimension with the standard deviation
    detached: linear in x (the mean's subtraction stays a linear map)."""
    centred = x - x.mean(-1, keepdim=True)
    std = torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps).detach()
    return centred / std * weight + bias


def identity_rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm (in float32, as the plain one) with the root mean square detached."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps).detach()
    return weight * h.to(x.dtype)
