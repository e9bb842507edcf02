"""Checkpoints saved from the base model instead of the *ForCausalLM class
(GPT-2's own folders hold "h.0.attn.c_attn.weight", not
"transformer.h.0.attn.c_attn.weight"): transformers accepts both, adding
the base model's prefix where the keys lack it; this source does the same.

Usage: source = with_base_prefix(folder.weights(), "transformer.")
       load_weights(model, source, prefix="language_model.")"""


def with_base_prefix(source, base_prefix):
    """source unchanged when any key starts with base_prefix, else a view
    whose every key (a head's "lm_head.weight" too, if a base-model
    checkpoint holds one) carries it."""
    if any(name.startswith(base_prefix) for name in source.names()):
        return source
    return PrefixedSource(source, base_prefix)


class PrefixedSource:
    """A weight source (weight_loading.py) whose names gain a prefix."""

    def __init__(self, source, prefix):
        self.source, self.prefix = source, prefix
        self.description = source.description

    def names(self):
        return [self.prefix + name for name in self.source.names()]

    def _inner(self, name):
        return name[len(self.prefix):]

    def group(self, name):
        return self.source.group(self._inner(name))

    def read(self, name):
        return self.source.read(self._inner(name))

    def release(self, group):
        self.source.release(group)
