#!/usr/bin/python3
"""Writes random-weight Hugging Face folders of Gemma2ForCausalLM and
Phi3ForCausalLM in their published layouts (transformers 4.4x key names),
with the repository's sentencepiece tokenizer.model (as Gemma-2 and Phi-3
ship theirs), for tests/python/test_import_gemma2_phi3.py:

  Gemma2ForCausalLM  model.embed_tokens, layers.N.{input_layernorm,
                     post_attention_layernorm, pre_feedforward_layernorm,
                     post_feedforward_layernorm (weights near 0: the norm
                     scales by 1 + w), self_attn.q/k/v/o_proj, mlp.gate/up/down_proj},
                     model.norm; the head tied (no lm_head.weight)
  Phi3ForCausalLM    model.embed_tokens, layers.N.{input_layernorm,
                     post_attention_layernorm, self_attn.qkv_proj ([q | k | v]
                     rows), self_attn.o_proj, mlp.gate_up_proj ([gate | up]
                     rows), mlp.down_proj}, model.norm, lm_head

Each writer returns the weights as stored, as float64, for the references.

Usage: weights = write_folder(folder, gemma2_config(), gemma2_state, dtype=torch.bfloat16)"""
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python import make_hf_checkpoints as mk  # noqa: E402


def gemma2_config(**over):
    """Small: 3 layers (windows on 0 and 2), 4 query / 2 key-value heads of 12
    (head_dim not hidden/heads), soft-caps low enough to bite."""
    c = dict(architectures=["Gemma2ForCausalLM"], model_type="gemma2", vocab_size=256, hidden_size=32,
             intermediate_size=48, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=12,
             hidden_activation="gelu_pytorch_tanh", hidden_act="gelu_pytorch_tanh", max_position_embeddings=96,
             rms_norm_eps=1e-6, rope_theta=10000.0, attention_bias=False, query_pre_attn_scalar=16,
             sliding_window=4, final_logit_softcapping=3.0, attn_logit_softcapping=2.5, tie_word_embeddings=True,
             bos_token_id=1, eos_token_id=2, pad_token_id=0)
    c.update(over)
    return c


def gemma2_state(config, gen):
    d, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads, kv, dh = config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]
    state = {"model.embed_tokens.weight": torch.randn(v, d, generator=gen) / d ** 0.5}
    for i in range(config["num_hidden_layers"]):
        p = "model.layers.%d." % i
        state[p + "self_attn.q_proj.weight"] = mk.random_matrix(gen, heads * dh, d, 3.0)
        state[p + "self_attn.k_proj.weight"] = mk.random_matrix(gen, kv * dh, d, 3.0)
        state[p + "self_attn.v_proj.weight"] = mk.random_matrix(gen, kv * dh, d)
        state[p + "self_attn.o_proj.weight"] = mk.random_matrix(gen, d, heads * dh)
        state[p + "mlp.gate_proj.weight"] = mk.random_matrix(gen, f, d)
        state[p + "mlp.up_proj.weight"] = mk.random_matrix(gen, f, d)
        state[p + "mlp.down_proj.weight"] = mk.random_matrix(gen, d, f)
        for name in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm"):
            state[p + name + ".weight"] = 0.1 * torch.randn(d, generator=gen)
    state["model.norm.weight"] = 0.1 * torch.randn(d, generator=gen)
    if not config.get("tie_word_embeddings", True):
        state["lm_head.weight"] = mk.random_matrix(gen, v, d, 2.0)
    return state


def write_folder(folder, config, make_state, layout="safetensors", shards=1, dtype=torch.float32, seed=0):
    mk.write_folder_files(folder, config, {})
    cast, exact = mk.stored(make_state(config, torch.Generator().manual_seed(seed)), dtype)
    mk.write_weights(folder, cast, layout, shards)
    return exact


def phi3_config(**over):
    """Small: 4 query / 2 key-value heads of 8, no rope scaling."""
    c = dict(architectures=["Phi3ForCausalLM"], model_type="phi3", vocab_size=256, hidden_size=32,
             intermediate_size=40, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             hidden_act="silu", max_position_embeddings=96, original_max_position_embeddings=96, rms_norm_eps=1e-5,
             rope_theta=10000.0, rope_scaling=None, sliding_window=None, tie_word_embeddings=False, bos_token_id=1,
             eos_token_id=2)
    c.update(over)
    return c


def longrope_scaling(pairs, gen=None):
    """rope_scaling "longrope" with short factors near 1 and long ones up to 8 (as Phi-3-128k's rise)."""
    return {"type": "longrope", "short_factor": [1.0 + 0.05 * j for j in range(pairs)],
            "long_factor": [1.0 + 7.0 * j / max(pairs - 1, 1) for j in range(pairs)]}


def phi3_state(config, gen):
    d, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    dh = d // heads
    state = {"model.embed_tokens.weight": torch.randn(v, d, generator=gen)}
    for i in range(config["num_hidden_layers"]):
        p = "model.layers.%d." % i
        # qkv_proj rows: q (heads * dh), k (kv * dh), v (kv * dh).
        state[p + "self_attn.qkv_proj.weight"] = torch.cat([mk.random_matrix(gen, heads * dh, d, 2.0),
                                                           mk.random_matrix(gen, kv * dh, d, 2.0),
                                                           mk.random_matrix(gen, kv * dh, d)])
        state[p + "self_attn.o_proj.weight"] = mk.random_matrix(gen, d, heads * dh)
        state[p + "mlp.gate_up_proj.weight"] = mk.random_matrix(gen, 2 * f, d)  # rows: gate, then up
        state[p + "mlp.down_proj.weight"] = mk.random_matrix(gen, d, f)
        state[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
        state[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    state["model.norm.weight"] = 1 + 0.1 * torch.randn(d, generator=gen)
    if not config.get("tie_word_embeddings"):
        state["lm_head.weight"] = mk.random_matrix(gen, v, d, 2.0)
    return state


# Phi-3-mini-instruct's chat template (its tokens <|user|>, <|end|>, <|assistant|> are added tokens).
PHI3_TEMPLATE = ("{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + "
                 "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + "
                 "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + "
                 "message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")
PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"]


def write_phi3_instruct_tokenizer(folder):
    """Phi-3-instruct's tokenizer layout beside the folder's tokenizer.model: a
    byte-fallback tokenizer.json (make_hf_tokenizers' "fallback") whose added
    tokens continue the vocabulary, added_tokens.json, and a tokenizer_config
    with the chat template and added_tokens_decoder. Returns {token: id}."""
    import json
    from tests.python import make_hf_tokenizers
    files = make_hf_tokenizers.make_tokenizer("fallback")
    spec = json.loads(files["tokenizer.json"])
    first = max(spec["model"]["vocab"].values()) + 1
    ids = {t: first + k for k, t in enumerate(PHI3_ADDED)}
    spec["added_tokens"] += [make_hf_tokenizers.added(t, i) for t, i in ids.items()]
    config = json.loads(files["tokenizer_config.json"])
    config.update(chat_template=PHI3_TEMPLATE, eos_token="<|endoftext|>",
                  added_tokens_decoder={str(i): {"content": t, "special": True} for t, i in ids.items()})
    for name, value in (("tokenizer.json", spec), ("tokenizer_config.json", config), ("added_tokens.json", ids)):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False)
    return ids
