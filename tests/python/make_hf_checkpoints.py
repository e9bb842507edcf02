#!/usr/bin/python3
"""Writes random-weight checkpoints in the exact published layouts, for the
importer's tests and benchmarks: Hugging Face folders (config.json, weights
as model.safetensors, model-0000K-of-0000N.safetensors + index,
pytorch_model.bin, or sharded .bin + index; float32/float16/bfloat16) for
LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and
LlavaForConditionalGeneration (transformers 4.3x key names), and llama2.c
.bin files. Today's families (bpe_folder_cases: Llama-3 with llama3 rope
scaling, Qwen2 with q/k/v biases and tied embeddings, a tied Llama with a
byte-fallback BPE and linear rope scaling, a SmolLM2-style tied Llama with
GPT-2's vocab.json + merges.txt) carry the tokenizers and chat templates of
make_hf_tokenizers.py instead of the sentencepiece tokenizer.model. Each writer returns
the weights as stored (rounded to the stored dtype), for the reference.

The safetensors writer is the test's own, kept apart from the importer's
reader so that the two check each other.

Usage (library): write_llama_folder(folder, config, layout="safetensors", shards=1, dtype=torch.float32)
                 write_llava_folder(...); write_llama2c(path, dims, shared_classifier=True)
                 config, kind = bpe_folder_cases()["llama3"]; write_bpe_folder(folder, config, kind)
Usage (command): make_hf_checkpoints.py --out-dir DIR [--family llama|llama3|qwen2 --width 768 ...]
                 writes one sharded LLaMA-family folder of that shape,
                 tensor by tensor (memory: one tensor)."""
import argparse
import json
import os
import shutil
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = os.path.join(HERE, "..", "..", "torchscript_models", "tokenizer.model")
SAFETENSORS_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


# ------------------------------------------------------------ file formats ---
def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: torch tensor}, written in name order, no gaps."""
    header, offset = {}, 0
    for name in sorted(tensors):
        t = tensors[name]
        size = t.numel() * t.element_size()
        header[name] = {"dtype": SAFETENSORS_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name in sorted(tensors):
            f.write(tensor_bytes(tensors[name]))


def shard_names(names, shards):
    """Consecutive runs of names, one run per shard."""
    per = -(-len(names) // shards)
    return [names[i:i + per] for i in range(0, len(names), per)]


def write_weights(folder, state, layout, shards):
    """state {name: tensor} in the stored dtype; layout safetensors | bin."""
    names = list(state)
    if shards == 1:
        if layout == "safetensors":
            write_safetensors(os.path.join(folder, "model.safetensors"), state, {"format": "pt"})
        else:
            torch.save(state, os.path.join(folder, "pytorch_model.bin"))
        return
    groups = shard_names(names, shards)
    weight_map = {}
    ext = "safetensors" if layout == "safetensors" else "bin"
    stem = "model" if layout == "safetensors" else "pytorch_model"
    for k, group in enumerate(groups):
        filename = "%s-%05d-of-%05d.%s" % (stem, k + 1, len(groups), ext)
        part = {n: state[n] for n in group}
        if layout == "safetensors":
            write_safetensors(os.path.join(folder, filename), part, {"format": "pt"})
        else:
            torch.save(part, os.path.join(folder, filename))
        weight_map.update({n: filename for n in group})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = "model.safetensors.index.json" if layout == "safetensors" else "pytorch_model.bin.index.json"
    with open(os.path.join(folder, index), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


# ----------------------------------------------------------------- weights ---
def random_matrix(gen, rows, cols, scale=1.0):
    return torch.randn(rows, cols, generator=gen) * (scale / cols ** 0.5)


def llama_config(**over):
    """A small LLaMA config.json (multi-head attention, 64 positions); `over` changes keys."""
    c = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=256, hidden_size=32,
             intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
             max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
             hidden_act="silu", bos_token_id=1, eos_token_id=2)
    c.update(over)
    return c


def llama_state(config, gen, prefix="model.", head="lm_head.weight"):
    """Hugging Face LlamaForCausalLM / MistralForCausalLM state dict, float32."""
    d, f = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    dh = config.get("head_dim") or d // heads
    v = config["vocab_size"]
    state = {prefix + "embed_tokens.weight": torch.randn(v, d, generator=gen)}
    for i in range(config["num_hidden_layers"]):
        p = "%slayers.%d." % (prefix, i)
        state[p + "self_attn.q_proj.weight"] = random_matrix(gen, heads * dh, d, 2.0)
        state[p + "self_attn.k_proj.weight"] = random_matrix(gen, kv * dh, d, 2.0)
        state[p + "self_attn.v_proj.weight"] = random_matrix(gen, kv * dh, d)
        state[p + "self_attn.o_proj.weight"] = random_matrix(gen, d, heads * dh)
        if config.get("attention_bias") or config.get("model_type") == "qwen2":
            biased = (("q", heads * dh), ("k", kv * dh), ("v", kv * dh))  # Qwen2: q/k/v only
            if config.get("attention_bias"):
                biased += (("o", d),)
            for name, n in biased:
                state[p + "self_attn.%s_proj.bias" % name] = 0.1 * torch.randn(n, generator=gen)
        state[p + "mlp.gate_proj.weight"] = random_matrix(gen, f, d)
        state[p + "mlp.up_proj.weight"] = random_matrix(gen, f, d)
        state[p + "mlp.down_proj.weight"] = random_matrix(gen, d, f)
        if config.get("mlp_bias"):
            for name, n in (("gate", f), ("up", f), ("down", d)):
                state[p + "mlp.%s_proj.bias" % name] = 0.1 * torch.randn(n, generator=gen)
        state[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
        state[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    state[prefix + "norm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    if not config.get("tie_word_embeddings", False):
        state[head] = random_matrix(gen, v, d, 2.0)
    return state


def clip_state(vision, used_layers, gen):
    d, f, patch = vision["hidden_size"], vision["intermediate_size"], vision["patch_size"]
    n = (vision["image_size"] // patch) ** 2 + 1
    p0 = "vision_tower.vision_model."
    state = {p0 + "embeddings.class_embedding": torch.randn(d, generator=gen),
             p0 + "embeddings.patch_embedding.weight":
                 torch.randn(d, 3, patch, patch, generator=gen) / (3 * patch * patch) ** 0.5,
             p0 + "embeddings.position_embedding.weight": 0.5 * torch.randn(n, d, generator=gen),
             p0 + "pre_layrnorm.weight": 1 + 0.1 * torch.randn(d, generator=gen),
             p0 + "pre_layrnorm.bias": 0.1 * torch.randn(d, generator=gen),
             p0 + "post_layernorm.weight": 1 + 0.1 * torch.randn(d, generator=gen),
             p0 + "post_layernorm.bias": 0.1 * torch.randn(d, generator=gen)}
    for i in range(vision["num_hidden_layers"]):
        p = p0 + "encoder.layers.%d." % i
        for name in ("q", "k", "v", "out"):
            state[p + "self_attn.%s_proj.weight" % name] = random_matrix(gen, d, d, 1.5)
            state[p + "self_attn.%s_proj.bias" % name] = 0.1 * torch.randn(d, generator=gen)
        state[p + "mlp.fc1.weight"] = random_matrix(gen, f, d)
        state[p + "mlp.fc1.bias"] = 0.1 * torch.randn(f, generator=gen)
        state[p + "mlp.fc2.weight"] = random_matrix(gen, d, f)
        state[p + "mlp.fc2.bias"] = 0.1 * torch.randn(d, generator=gen)
        for ln in ("layer_norm1", "layer_norm2"):
            state[p + ln + ".weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
            state[p + ln + ".bias"] = 0.1 * torch.randn(d, generator=gen)
    return state


def siglip_state(vision, gen):
    """SiglipVisionModel's keys: patch embedding with bias, a position per
    patch, no class token; post_layernorm and (vision_use_head) the pooling
    head are written too, as checkpoints hold them, though LLaVA never uses them."""
    d, f, patch = vision["hidden_size"], vision["intermediate_size"], vision["patch_size"]
    p0 = "vision_tower.vision_model."
    state = {p0 + "embeddings.patch_embedding.weight":
             torch.randn(d, 3, patch, patch, generator=gen) / (3 * patch * patch) ** 0.5,
             p0 + "embeddings.patch_embedding.bias": 0.1 * torch.randn(d, generator=gen),
             p0 + "embeddings.position_embedding.weight":
                 0.5 * torch.randn((vision["image_size"] // patch) ** 2, d, generator=gen),
             p0 + "post_layernorm.weight": 1 + 0.1 * torch.randn(d, generator=gen),
             p0 + "post_layernorm.bias": 0.1 * torch.randn(d, generator=gen)}
    for i in range(vision["num_hidden_layers"]):  # the same layer keys as CLIP's
        p = p0 + "encoder.layers.%d." % i
        for name in ("q", "k", "v", "out"):
            state[p + "self_attn.%s_proj.weight" % name] = random_matrix(gen, d, d, 1.5)
            state[p + "self_attn.%s_proj.bias" % name] = 0.1 * torch.randn(d, generator=gen)
        state[p + "mlp.fc1.weight"] = random_matrix(gen, f, d)
        state[p + "mlp.fc1.bias"] = 0.1 * torch.randn(f, generator=gen)
        state[p + "mlp.fc2.weight"] = random_matrix(gen, d, f)
        state[p + "mlp.fc2.bias"] = 0.1 * torch.randn(d, generator=gen)
        for ln in ("layer_norm1", "layer_norm2"):
            state[p + ln + ".weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
            state[p + ln + ".bias"] = 0.1 * torch.randn(d, generator=gen)
    if vision.get("vision_use_head"):
        state[p0 + "head.probe"] = torch.randn(1, 1, d, generator=gen)
        state[p0 + "head.attention.in_proj_weight"] = random_matrix(gen, 3 * d, d)
        state[p0 + "head.attention.in_proj_bias"] = torch.zeros(3 * d)
        state[p0 + "head.layernorm.weight"] = torch.ones(d)
        state[p0 + "head.mlp.fc1.weight"] = random_matrix(gen, f, d)
    return state


def stored(state, dtype):
    """The tensors as the file holds them, and as float64 for the reference."""
    cast = {k: v.to(dtype) for k, v in state.items()}
    return cast, {k: v.to(torch.float64) for k, v in cast.items()}


def write_folder_files(folder, config, extra_json):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name, value in extra_json.items():
        with open(os.path.join(folder, name), "w") as f:
            json.dump(value, f, indent=2)
    shutil.copy(TOKENIZER, os.path.join(folder, "tokenizer.model"))


def write_llama_folder(folder, config, layout="safetensors", shards=1, dtype=torch.float32, seed=0,
                       extra_json=None):
    """config: a full Hugging Face LlamaConfig/MistralConfig dict (with
    architectures). Returns the stored weights as float64."""
    write_folder_files(folder, config, extra_json or {})
    cast, exact = stored(llama_state(config, torch.Generator().manual_seed(seed)), dtype)
    write_weights(folder, cast, layout, shards)
    return exact


def bpe_folder_cases():
    """{name: (config.json, make_hf_tokenizers kind)}: today's families, small.
    llama3: llama3 rope scaling whose three regimes all occur (head_dim 8,
    rope_theta 500000: wavelengths 6.3, 167, 4418, 117851 against limits
    64 and 256). qwen2: q/k/v biases, tied, a window of 4 from layer 1 on.
    qwen2_untied: no window, its own head. fallback: tied, linear scaling.
    smol: tied, GPT-2's files."""
    from tests.python import make_hf_tokenizers
    base = dict(vocab_size=512, num_key_value_heads=2, max_position_embeddings=160)

    def ids(kind, *names):
        spec = json.loads(make_hf_tokenizers.make_tokenizer(kind)["tokenizer.json"])
        by_name = {t["content"]: t["id"] for t in spec["added_tokens"]}
        return [by_name[n] for n in names]
    begin, end, eot = ids("llama3", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>")
    endoftext, im_end = ids("qwen2", "<|endoftext|>", "<|im_end|>")
    return {
        "llama3": (llama_config(**dict(base, rope_theta=500000.0, bos_token_id=begin, eos_token_id=[end, eot],
                                       rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                     "original_max_position_embeddings": 256,
                                                     "rope_type": "llama3"})), "llama3"),
        "qwen2": (llama_config(**dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                                      tie_word_embeddings=True, rope_theta=1000000.0, rms_norm_eps=1e-6,
                                      use_sliding_window=True, sliding_window=4, max_window_layers=1,
                                      bos_token_id=endoftext, eos_token_id=im_end)), "qwen2"),
        "qwen2_untied": (llama_config(**dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                                             tie_word_embeddings=False, use_sliding_window=False, sliding_window=None,
                                             max_window_layers=2, bos_token_id=endoftext,
                                             eos_token_id=endoftext)), "qwen2"),
        "fallback": (llama_config(**dict(base, tie_word_embeddings=True,
                                         rope_scaling={"type": "linear", "factor": 2.0})), "fallback"),
        "smol": (llama_config(**dict(base, tie_word_embeddings=True, rope_theta=100000.0, bos_token_id=None,
                                     eos_token_id=None)), "gpt2"),
    }


def write_bpe_folder(folder, config, kind, **kw):
    """write_llama_folder with the tokenizer files of make_hf_tokenizers.py
    (kind llama3 | qwen2 | fallback | gpt2) instead of tokenizer.model."""
    from tests.python import make_hf_tokenizers
    weights = write_llama_folder(folder, config, **kw)
    size = make_hf_tokenizers.write_tokenizer(folder, kind)
    if size > config["vocab_size"]:
        raise ValueError("the %s tokenizer has %d ids, more than vocab_size %d" % (kind, size, config["vocab_size"]))
    return weights


def write_llava_folder(folder, config, layout="safetensors", shards=1, dtype=torch.float32, seed=0,
                       extra_json=None, written_config=None, tokenizer_kind=None):
    """A CLIP or SigLIP tower (vision_config's model_type); with
    tokenizer_kind, make_hf_tokenizers' tokenizer files instead of tokenizer.model."""
    gen = torch.Generator().manual_seed(seed)
    text = config["text_config"]
    state = llama_state(text, gen, prefix="language_model.model.", head="language_model.lm_head.weight")
    if config["vision_config"].get("model_type") == "siglip_vision_model":
        state.update(siglip_state(config["vision_config"], gen))
    else:
        state.update(clip_state(config["vision_config"], None, gen))
    for name, n_in in (("linear_1", config["vision_config"]["hidden_size"]), ("linear_2", text["hidden_size"])):
        state["multi_modal_projector.%s.weight" % name] = random_matrix(gen, text["hidden_size"], n_in, 1.5)
        state["multi_modal_projector.%s.bias" % name] = 0.1 * torch.randn(text["hidden_size"], generator=gen)
    write_folder_files(folder, written_config or config, extra_json or {})
    if tokenizer_kind is not None:
        from tests.python import make_hf_tokenizers
        os.remove(os.path.join(folder, "tokenizer.model"))
        make_hf_tokenizers.write_tokenizer(folder, tokenizer_kind)
    cast, exact = stored(state, dtype)
    write_weights(folder, cast, layout, shards)
    return exact


def write_llama2c(path, dim, hidden, layers, heads, kv_heads, vocab, seq_len, shared_classifier=True, seed=0):
    """llama2.c legacy .bin. Returns (Hugging Face-named weights in llama2.c's
    own row order (interleaved rotary), the equivalent LlamaConfig)."""
    gen = torch.Generator().manual_seed(seed)
    dh = dim // heads
    config = dict(model_type="llama", vocab_size=vocab, hidden_size=dim, intermediate_size=hidden,
                  num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                  rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=shared_classifier)
    state = llama_state(config, gen)
    per_layer = ["input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                 "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                 "mlp.gate_proj.weight", "mlp.down_proj.weight", "mlp.up_proj.weight"]
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab if shared_classifier else -vocab,
                            seq_len))
        f.write(tensor_bytes(state["model.embed_tokens.weight"]))
        for name in per_layer:
            for i in range(layers):
                f.write(tensor_bytes(state["model.layers.%d.%s" % (i, name)]))
        f.write(tensor_bytes(state["model.norm.weight"]))
        f.write(tensor_bytes(torch.zeros(2 * seq_len * dh // 2)))  # legacy rotary tables
        if not shared_classifier:
            f.write(tensor_bytes(state["lm_head.weight"]))
    return {k: v.to(torch.float64) for k, v in state.items()}, config


# ------------------------------------------------- large, low-memory folder ---
def large_config(family, width, layers, heads, kv_heads, mlp, vocab, dtype):
    """config.json of a large folder: llama (LLaMA-2-like, untied, sentencepiece),
    llama3 (Llama-3.2-like: rope_theta 500000, llama3 rope scaling, untied,
    tokenizer.json), qwen2 (Qwen2.5-like: q/k/v biases, tied, tokenizer.json)."""
    config = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=vocab, hidden_size=width,
                  intermediate_size=mlp, num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=kv_heads, max_position_embeddings=2048, rms_norm_eps=1e-5,
                  rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu", bos_token_id=1,
                  eos_token_id=2, torch_dtype=str(dtype).replace("torch.", ""))
    if family == "llama3":
        config.update(rope_theta=500000.0, max_position_embeddings=131072, bos_token_id=128000,
                      eos_token_id=[128001, 128008, 128009],
                      rope_scaling={"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 8192, "rope_type": "llama3"})
    elif family == "qwen2":
        config.update(architectures=["Qwen2ForCausalLM"], model_type="qwen2", rope_theta=1000000.0,
                      rms_norm_eps=1e-6, tie_word_embeddings=True, max_position_embeddings=32768,
                      use_sliding_window=False, sliding_window=32768, max_window_layers=layers,
                      bos_token_id=151643, eos_token_id=151643)
    return config


def write_large_llama_folder(folder, width, layers, heads, kv_heads, mlp, vocab, shards, dtype, seed=0,
                             family="llama"):
    """A LLaMA-family folder written tensor by tensor (peak memory: one
    tensor), for the importer's memory benchmark and `atman bench`; family
    llama (sentencepiece tokenizer.model), llama3 or qwen2 (a full-size
    tokenizer.json of make_hf_tokenizers.large_tokenizer and the family's chat
    template). Returns parameters."""
    config = large_config(family, width, layers, heads, kv_heads, mlp, vocab, dtype)
    write_folder_files(folder, config, {})
    if family != "llama":
        from tests.python import make_hf_tokenizers
        os.remove(os.path.join(folder, "tokenizer.model"))
        for name, text in make_hf_tokenizers.large_tokenizer(family, 128000 if family == "llama3" else 151643).items():
            with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                f.write(text)
    dh = width // heads
    bias = family == "qwen2"
    shapes = [("model.embed_tokens.weight", (vocab, width))]
    for i in range(layers):
        p = "model.layers.%d." % i
        shapes += [(p + "input_layernorm.weight", (width,)), (p + "self_attn.q_proj.weight", (heads * dh, width)),
                   (p + "self_attn.k_proj.weight", (kv_heads * dh, width)),
                   (p + "self_attn.v_proj.weight", (kv_heads * dh, width))]
        if bias:
            shapes += [(p + "self_attn.q_proj.bias", (heads * dh,)), (p + "self_attn.k_proj.bias", (kv_heads * dh,)),
                       (p + "self_attn.v_proj.bias", (kv_heads * dh,))]
        shapes += [(p + "self_attn.o_proj.weight", (width, heads * dh)),
                   (p + "post_attention_layernorm.weight", (width,)),
                   (p + "mlp.gate_proj.weight", (mlp, width)), (p + "mlp.up_proj.weight", (mlp, width)),
                   (p + "mlp.down_proj.weight", (width, mlp))]
    shapes += [("model.norm.weight", (width,))]
    if not config["tie_word_embeddings"]:
        shapes += [("lm_head.weight", (vocab, width))]
    gen = torch.Generator().manual_seed(seed)
    groups = shard_names([n for n, _ in shapes], shards)
    shape_of = dict(shapes)
    weight_map, item = {}, torch.tensor([], dtype=dtype).element_size()
    for k, group in enumerate(groups):
        filename = "model-%05d-of-%05d.safetensors" % (k + 1, len(groups))
        header, offset = {}, 0
        for name in group:
            size = int(np.prod(shape_of[name])) * item
            header[name] = {"dtype": SAFETENSORS_DTYPE[dtype], "shape": list(shape_of[name]),
                            "data_offsets": [offset, offset + size]}
            offset += size
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with open(os.path.join(folder, filename), "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw)
            for name in group:
                shape = shape_of[name]
                t = torch.ones(shape) if len(shape) == 1 else torch.randn(shape, generator=gen) / shape[-1] ** 0.5
                f.write(tensor_bytes(t.to(dtype)))
                del t
        weight_map.update({n: filename for n in group})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    return sum(int(np.prod(s)) for _, s in shapes)


def main():
    parser = argparse.ArgumentParser(description="Writes a random LLaMA-shaped Hugging Face folder "
                                                 "(sharded safetensors), tensor by tensor.")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--width", type=int, default=768, help="hidden size (default 768)")
    parser.add_argument("--layers", type=int, default=12, help="(default 12)")
    parser.add_argument("--heads", type=int, default=12, help="(default 12)")
    parser.add_argument("--kv-heads", type=int, default=4, help="(default 4: grouped-query attention)")
    parser.add_argument("--mlp", type=int, default=2048, help="intermediate size (default 2048)")
    parser.add_argument("--vocab", type=int, default=32000, help="(default 32000)")
    parser.add_argument("--shards", type=int, default=3, help="(default 3)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="bfloat16",
                        help="(default bfloat16)")
    parser.add_argument("--family", choices=["llama", "llama3", "qwen2"], default="llama",
                        help="llama: LLaMA-2-like with tokenizer.model; llama3: llama3 rope scaling, tokenizer.json "
                             "of 128256 ids (--vocab 128256); qwen2: q/k/v biases, tied, tokenizer.json of 151665 "
                             "ids (--vocab 151936) (default llama)")
    args = parser.parse_args()
    n = write_large_llama_folder(args.out_dir, args.width, args.layers, args.heads, args.kv_heads, args.mlp,
                                 args.vocab, args.shards, getattr(torch, args.dtype), family=args.family)
    print("wrote %s: %.1fM parameters" % (args.out_dir, n / 1e6))


if __name__ == "__main__":
    main()
