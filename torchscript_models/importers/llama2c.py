"""A llama2.c checkpoint (legacy .bin) as Hugging Face LLaMA weights, so that
one LLaMA class (llama.py) serves both.

Layout: seven int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads,
vocab_size, seq_len (vocab_size < 0: the classifier is not shared with the
token embedding); then float32, each matrix row-major (out x in), per-layer
tensors stacked over the layers: token embedding [V, D]; attention RMSNorm
[L, D]; wq [L, H*dh, D]; wk, wv [L, Hkv*dh, D]; wo [L, D, H*dh]; FFN RMSNorm
[L, D]; w1 [L, F, D]; w2 [L, D, F]; w3 [L, F, D]; final RMSNorm [D]; two
legacy rotary tables of seq_len*dh/2 floats (unused); the classifier [V, D]
when unshared. llama2.c rotates interleaved pairs (2i, 2i+1); wq and wk rows
are reordered here to Hugging Face's half-split pairs (i, i + dh/2), as
Hugging Face's own conversion does, which leaves q.k unchanged.

Usage: source = Llama2cCheckpoint(path); source.hf_config(); load_weights(...)"""
import os
import struct

import numpy as np
import torch

from .errors import CheckpointError

HEADER = struct.Struct("<7i")
FLOAT_BYTES = 4
VERSIONED_MAGIC = 0x616B3432  # "ak42": llama2.c's later export versions, a different layout


def interleaved_to_half_split(w, heads):
    """Rows of each head reordered from (0, 1, 2, 3, ...) pairs (2i, 2i+1)
    to the half-split order where pair i is (i, i + dh/2)."""
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


class Llama2cCheckpoint:
    def __init__(self, path):
        self.path = self.description = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(HEADER.size)
        except OSError as e:
            raise CheckpointError("%s: cannot read: %s" % (path, e.strerror)) from e
        if len(head) < HEADER.size:
            raise CheckpointError("%s: %d bytes, too short for llama2.c's 28-byte header" % (path, size))
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = HEADER.unpack(head)
        if dim == VERSIONED_MAGIC:
            raise CheckpointError("%s: llama2.c export version %d is not supported (supported: the legacy "
                                  "format, model.py --version 0)" % (path, hidden))
        self.shared_classifier = vocab > 0
        vocab = abs(vocab)
        if min(dim, hidden, layers, heads, kv_heads, vocab, seq_len) <= 0 or dim % heads or heads % kv_heads \
                or (dim // heads) % 2:
            raise CheckpointError("%s: llama2.c header dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d "
                                  "vocab_size=%d seq_len=%d is not a model" % (path, dim, hidden, layers, heads,
                                                                              kv_heads, vocab, seq_len))
        self.dim, self.hidden, self.layers, self.heads, self.kv_heads = dim, hidden, layers, heads, kv_heads
        self.vocab, self.seq_len = vocab, seq_len
        self.head_dim = dim // heads
        self.where = {}  # Hugging Face key -> (byte offset, shape, heads to reorder for rotary or 0)
        offset = HEADER.size
        kv = kv_heads * self.head_dim

        def stacked(name, shape, rotary_heads=0):
            nonlocal offset
            for i in range(layers):
                self.where["model.layers.%d.%s" % (i, name)] = (offset, shape, rotary_heads)
                offset += int(np.prod(shape)) * FLOAT_BYTES

        def single(key, shape):
            nonlocal offset
            self.where[key] = (offset, shape, 0)
            offset += int(np.prod(shape)) * FLOAT_BYTES

        single("model.embed_tokens.weight", (vocab, dim))
        stacked("input_layernorm.weight", (dim,))
        stacked("self_attn.q_proj.weight", (dim, dim), heads)
        stacked("self_attn.k_proj.weight", (kv, dim), kv_heads)
        stacked("self_attn.v_proj.weight", (kv, dim))
        stacked("self_attn.o_proj.weight", (dim, dim))
        stacked("post_attention_layernorm.weight", (dim,))
        stacked("mlp.gate_proj.weight", (hidden, dim))
        stacked("mlp.down_proj.weight", (dim, hidden))
        stacked("mlp.up_proj.weight", (hidden, dim))
        single("model.norm.weight", (dim,))
        offset += 2 * seq_len * (self.head_dim // 2) * FLOAT_BYTES  # legacy rotary tables
        if not self.shared_classifier:
            single("lm_head.weight", (vocab, dim))
        if offset != size:
            raise CheckpointError("%s: llama2.c header (dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d "
                                  "vocab_size=%d%s seq_len=%d) implies %d bytes, the file has %d"
                                  % (path, dim, hidden, layers, heads, kv_heads, vocab,
                                     "" if self.shared_classifier else " unshared", seq_len, offset, size))

    def hf_config(self):
        """The equivalent Hugging Face LlamaConfig (llama2.c's model.py)."""
        return dict(model_type="llama", vocab_size=self.vocab, hidden_size=self.dim, intermediate_size=self.hidden,
                    num_hidden_layers=self.layers, num_attention_heads=self.heads,
                    num_key_value_heads=self.kv_heads, max_position_embeddings=self.seq_len, rms_norm_eps=1e-5,
                    rope_theta=10000.0, tie_word_embeddings=self.shared_classifier, hidden_act="silu",
                    bos_token_id=1, eos_token_id=2)

    def names(self):
        return list(self.where)

    def group(self, name):
        return self.path

    def read(self, name):
        offset, shape, rotary_heads = self.where[name]
        count = int(np.prod(shape))
        array = np.fromfile(self.path, dtype="<f4", count=count, offset=offset).reshape(shape)
        tensor = torch.from_numpy(array)
        return interleaved_to_half_split(tensor, rotary_heads) if rotary_heads else tensor

    def release(self, group):
        pass
