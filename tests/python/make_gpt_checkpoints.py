#!/usr/bin/python3
"""Writes random-weight Hugging Face folders of the GPT-style architectures
in their published layouts (transformers 4.4x key names and shapes), for
tests/python/test_import_gpt.py and the benchmarks:

  GPT2LMHeadModel   transformer.wte/wpe, h.N.{ln_1, attn.c_attn, attn.c_proj,
                    ln_2, mlp.c_fc, mlp.c_proj} as Conv1D ([in, out]), ln_f;
                    base_prefix=False writes GPT-2's own layout (GPT2Model keys
                    without "transformer.", with the attn.bias/masked_bias
                    buffers and no lm_head)

  GPTNeoXForCausalLM  gpt_neox.embed_in, layers.N.{input_layernorm,
                    post_attention_layernorm, attention.query_key_value (per head
                    [q | k | v]), attention.dense, mlp.dense_h_to_4h,
                    mlp.dense_4h_to_h}, final_layer_norm, embed_out
  GPTJForCausalLM   transformer.wte, h.N.{ln_1, attn.q/k/v/out_proj (no bias),
                    mlp.fc_in, mlp.fc_out}, ln_f, lm_head with its bias

with GPT-2's tokenizer files (vocab.json + merges.txt learned on a short
text by make_hf_tokenizers.py, <|endoftext|> as BOS, EOS and UNK, no chat
template). Each writer returns the weights as stored, as float64, for the
reference (reference_gpt.py).

Usage: config = gpt2_config(n_layer=2); weights = write_gpt2_folder(folder, config, layout="bin")
       weights = write_gpt_folder(folder, neox_config(), neox_state)   (gptj_config, gptj_state)"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python import make_hf_checkpoints as mk  # noqa: E402
from tests.python.make_hf_tokenizers import byte_level_vocab  # noqa: E402
from tests.python.reference_tokenizer import GPT2_PATTERN  # noqa: E402


def gpt2_eot_id():
    """<|endoftext|>'s id in write_gpt2_tokenizer's files: the last one, as in GPT-2's 50256."""
    return len(byte_level_vocab(GPT2_PATTERN, 200)[0])


def gpt2_config(**over):
    eot = gpt2_eot_id()
    c = dict(architectures=["GPT2LMHeadModel"], model_type="gpt2", vocab_size=320, n_positions=96, n_embd=32,
             n_layer=2, n_head=4, n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5,
             scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False,
             bos_token_id=eot, eos_token_id=eot)
    c.update(over)
    return c


def gpt2_state(config, gen, base_prefix=True):
    d, v = config["n_embd"], config["vocab_size"]
    f = config.get("n_inner") or 4 * d
    p0 = "transformer." if base_prefix else ""
    state = {p0 + "wte.weight": torch.randn(v, d, generator=gen),
             p0 + "wpe.weight": 0.5 * torch.randn(config["n_positions"], d, generator=gen)}
    for i in range(config["n_layer"]):
        p = "%sh.%d." % (p0, i)
        for name, n in (("ln_1", d), ("ln_2", d)):
            state[p + name + ".weight"] = 1 + 0.1 * torch.randn(n, generator=gen)
            state[p + name + ".bias"] = 0.1 * torch.randn(n, generator=gen)
        # Conv1D: [in, out]; c_attn's columns are q | k | v.
        for name, n_in, n_out, scale in (("attn.c_attn", d, 3 * d, 2.0), ("attn.c_proj", d, d, 1.0),
                                         ("mlp.c_fc", d, f, 1.0), ("mlp.c_proj", f, d, 1.0)):
            state[p + name + ".weight"] = mk.random_matrix(gen, n_out, n_in, scale).T.contiguous()
            state[p + name + ".bias"] = 0.1 * torch.randn(n_out, generator=gen)
        if not base_prefix:  # GPT-2's own files keep the causal-mask buffers
            n = config["n_positions"]
            state[p + "attn.bias"] = torch.tril(torch.ones(n, n)).view(1, 1, n, n)
            state[p + "attn.masked_bias"] = torch.tensor(-1e4)
    state[p0 + "ln_f.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    state[p0 + "ln_f.bias"] = 0.1 * torch.randn(d, generator=gen)
    if not config.get("tie_word_embeddings", True):
        state["lm_head.weight"] = mk.random_matrix(gen, v, d, 2.0)
    return state


def write_gpt2_tokenizer(folder):
    """GPT-2's vocab.json + merges.txt layout; returns the ids' count."""
    vocab, merges = byte_level_vocab(GPT2_PATTERN, 200)
    eot = len(vocab)
    vocab["<|endoftext|>"] = eot
    files = {"vocab.json": json.dumps(vocab, ensure_ascii=False),
             "merges.txt": "#version: 0.2\n" + "".join("%s %s\n" % m for m in merges),
             "special_tokens_map.json": json.dumps({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                                    "unk_token": "<|endoftext|>"}),
             "tokenizer_config.json": json.dumps({"add_prefix_space": False, "tokenizer_class": "GPT2Tokenizer",
                                                  "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                                  "unk_token": "<|endoftext|>", "model_max_length": 1024})}
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
    return eot + 1


def write_gpt2_folder(folder, config, layout="safetensors", shards=1, dtype=torch.float32, seed=0,
                      base_prefix=True):
    """A GPT2LMHeadModel folder   GPTNeoXForCausalLM  gpt_neox.embed_in, layers.N.{input_layernorm,
                    post_attention_layernorm, attention.query_key_value (per head
                    [q | k | v]), attention.dense, mlp.dense_h_to_4h,
                    mlp.dense_4h_to_h}, final_layer_norm, embed_out
  GPTJForCausalLM   transformer.wte, h.N.{ln_1, attn.q/k/v/out_proj (no bias),
                    mlp.fc_in, mlp.fc_out}, ln_f, lm_head with its bias

with GPT-2's tokenizer files; returns the
    weights as stored, float64, under "transformer." names."""
    mk.write_folder_files(folder, config, {})
    os.remove(os.path.join(folder, "tokenizer.model"))
    ids = write_gpt2_tokenizer(folder)
    if ids > config["vocab_size"]:
        raise ValueError("the tokenizer has %d ids, more than vocab_size %d" % (ids, config["vocab_size"]))
    state = gpt2_state(config, torch.Generator().manual_seed(seed), base_prefix)
    cast, exact = mk.stored(state, dtype)
    mk.write_weights(folder, cast, layout, shards)
    if not base_prefix:
        exact = {("transformer." + k if k != "lm_head.weight" else k): v for k, v in exact.items()}
    return exact


def neox_config(**over):
    eot = gpt2_eot_id()
    c = dict(architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox", vocab_size=320, hidden_size=32,
             num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, hidden_act="gelu", rotary_pct=0.5,
             rotary_emb_base=10000, max_position_embeddings=96, layer_norm_eps=1e-5, use_parallel_residual=True,
             tie_word_embeddings=False, bos_token_id=eot, eos_token_id=eot)
    c.update(over)
    return c


def neox_state(config, gen):
    d, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    bias = config.get("attention_bias", True)
    state = {"gpt_neox.embed_in.weight": torch.randn(v, d, generator=gen)}
    for i in range(config["num_hidden_layers"]):
        p = "gpt_neox.layers.%d." % i
        for name in ("input_layernorm", "post_attention_layernorm"):
            state[p + name + ".weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
            state[p + name + ".bias"] = 0.1 * torch.randn(d, generator=gen)
        for name, n_in, n_out, scale, biased in (("attention.query_key_value", d, 3 * d, 2.0, bias),
                                                 ("attention.dense", d, d, 1.0, bias),
                                                 ("mlp.dense_h_to_4h", d, f, 1.0, True),
                                                 ("mlp.dense_4h_to_h", f, d, 1.0, True)):
            state[p + name + ".weight"] = mk.random_matrix(gen, n_out, n_in, scale)
            if biased:
                state[p + name + ".bias"] = 0.1 * torch.randn(n_out, generator=gen)
        state[p + "attention.rotary_emb.inv_freq"] = torch.ones(4)  # old checkpoints' buffer, ignored
    state["gpt_neox.final_layer_norm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    state["gpt_neox.final_layer_norm.bias"] = 0.1 * torch.randn(d, generator=gen)
    if not config.get("tie_word_embeddings"):
        state["embed_out.weight"] = mk.random_matrix(gen, v, d, 2.0)
    return state


def gptj_config(**over):
    eot = gpt2_eot_id()
    c = dict(architectures=["GPTJForCausalLM"], model_type="gptj", vocab_size=320, n_positions=96, n_embd=32,
             n_layer=2, n_head=2, rotary_dim=6, n_inner=None, activation_function="gelu_new",
             layer_norm_epsilon=1e-5, tie_word_embeddings=False, bos_token_id=eot, eos_token_id=eot)
    c.update(over)
    return c


def gptj_state(config, gen):
    d, v = config["n_embd"], config["vocab_size"]
    f = config.get("n_inner") or 4 * d
    state = {"transformer.wte.weight": torch.randn(v, d, generator=gen)}
    for i in range(config["n_layer"]):
        p = "transformer.h.%d." % i
        state[p + "ln_1.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
        state[p + "ln_1.bias"] = 0.1 * torch.randn(d, generator=gen)
        for name, scale in (("q_proj", 2.0), ("k_proj", 2.0), ("v_proj", 1.0), ("out_proj", 1.0)):
            state[p + "attn." + name + ".weight"] = mk.random_matrix(gen, d, d, scale)
        state[p + "mlp.fc_in.weight"] = mk.random_matrix(gen, f, d)
        state[p + "mlp.fc_in.bias"] = 0.1 * torch.randn(f, generator=gen)
        state[p + "mlp.fc_out.weight"] = mk.random_matrix(gen, d, f)
        state[p + "mlp.fc_out.bias"] = 0.1 * torch.randn(d, generator=gen)
        n = config["n_positions"]
        state[p + "attn.bias"] = torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n).float()
        state[p + "attn.masked_bias"] = torch.tensor(-1e9)
    state["transformer.ln_f.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    state["transformer.ln_f.bias"] = 0.1 * torch.randn(d, generator=gen)
    state["lm_head.weight"] = mk.random_matrix(gen, v, d, 2.0)
    state["lm_head.bias"] = 0.1 * torch.randn(v, generator=gen)
    return state


def write_gpt_folder(folder, config, make_state, layout="safetensors", shards=1, dtype=torch.float32, seed=0,
                     extra_json=None):
    """A GPT-NeoX or GPT-J folder (make_state: neox_state, gptj_state) with
    GPT-2's tokenizer files (and extra_json, e.g. GPT-J's added_tokens.json);
    returns the weights as stored, float64."""
    mk.write_folder_files(folder, config, {})
    os.remove(os.path.join(folder, "tokenizer.model"))
    ids = write_gpt2_tokenizer(folder)
    for name, value in (extra_json or {}).items():
        with open(os.path.join(folder, name), "w") as f:
            json.dump(value, f)
    if ids > config["vocab_size"]:
        raise ValueError("the tokenizer has %d ids, more than vocab_size %d" % (ids, config["vocab_size"]))
    cast, exact = mk.stored(make_state(config, torch.Generator().manual_seed(seed)), dtype)
    mk.write_weights(folder, cast, layout, shards)
    return exact
