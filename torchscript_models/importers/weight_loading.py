"""Copies a checkpoint's tensors into a module whose parameters are already
allocated in the output dtype, one tensor at a time (read, check, convert,
copy, free), so that peak memory stays near the module's own size.

A weight source has names(), group(name) (the file holding it: tensors are
read file by file, so a pytorch_model.bin shard is loaded once), read(name)
-> tensor, and release(group) (drops a loaded shard).

Usage: load_weights(module, source, prefix="language_model.",
                    ignorable=lambda name: name.endswith(".inv_freq"))"""
from collections import OrderedDict
from typing import Callable, List, Protocol

import torch
from torch import nn

from .errors import CheckpointError


class WeightSource(Protocol):
    """What load_weights reads (hf_folder's sources, llama2c's checkpoint, prefixed_source's wrapper)."""
    description: str

    def names(self) -> List[str]: ...

    def group(self, name: str) -> str: ...

    def read(self, name: str) -> torch.Tensor: ...

    def release(self, group: str) -> None: ...


def load_weights(module: nn.Module, source: WeightSource, prefix: str = "",
                 ignorable: Callable[[str], bool] = lambda name: False) -> None:
    """Module parameter `prefix + key` takes checkpoint tensor `key`. Every
    parameter needs its tensor (same shape); a checkpoint tensor that maps
    to no parameter is refused unless ignorable(key) (tensors the model
    knowingly leaves out: an unused final LayerNorm, rotary caches)."""
    wanted = OrderedDict()
    for name, param in module.named_parameters():  # a tied weight is listed once
        if not name.startswith(prefix):
            raise CheckpointError("internal: parameter %s outside prefix %r" % (name, prefix))
        wanted[name[len(prefix):]] = param
    available = set(source.names())
    missing = [key for key in wanted if key not in available]
    if missing:
        raise CheckpointError("%s: checkpoint lacks tensor %s%s" % (
            source.description, missing[0], " (and %d more)" % (len(missing) - 1) if len(missing) > 1 else ""))
    unexpected = sorted(key for key in available if key not in wanted and not ignorable(key))
    if unexpected:
        raise CheckpointError("%s: checkpoint tensor %s belongs to no part of the model%s" % (
            source.description, unexpected[0],
            " (and %d more)" % (len(unexpected) - 1) if len(unexpected) > 1 else ""))
    by_group = OrderedDict()
    for key in wanted:
        by_group.setdefault(source.group(key), []).append(key)
    with torch.no_grad():
        for group, keys in by_group.items():
            for key in keys:
                tensor = source.read(key)
                param = wanted[key]
                if tuple(tensor.shape) != tuple(param.shape):
                    raise CheckpointError("%s: tensor %s has shape %s, the config implies %s" % (
                        source.description, key, list(tensor.shape), list(param.shape)))
                if not tensor.is_floating_point():
                    raise CheckpointError("%s: tensor %s has dtype %s, weights must be floating point"
                                          % (source.description, key, tensor.dtype))
                param.copy_(tensor)
                del tensor
            source.release(group)
