#!/usr/bin/python3
"""Tests the Gemma-2 and Phi-3 importers (docs/importing.md) end to end with
the checks of test_import_gpt.py. Gemma-2: random folders in Hugging Face's layout
(make_gemma2_phi3_checkpoints.py: sliding windows on alternate layers,
grouped-query heads with their own head_dim, query_pre_attn_scalar,
soft-caps that bite, tied and untied heads, bfloat16 shards) imported with
the command and compared with the independent float64 network of
reference_gemma2.py: logits, prefix reuse, attention maps, the KV cache, the
log-additive control, AtMan R[i,t] single-token and conceptual, Input x
Gradient through forward_lrp against AttnLRP's rules in float64
(reference_gemma2_attnlrp.py: the caps by the identity rule); the
placement of the modification is observable (the float64 network with the
modification before the soft-cap, or without the caps, differs by far more
than the tolerance). Phi-3 against reference_phi3.py: fused qkv_proj and
gate_up_proj, grouped-query heads, a sliding window on every layer; longrope
imported by default at its original context (short factors, every optional
method), and with a longer --max-positions (factors chosen per pass by its
length, as Hugging Face chooses them: short at 24 positions, long at 60,
observably; no cache methods; `atman explain` and `generate` on it).
A Phi-3-instruct-style folder: tokenizer.json read before tokenizer.model,
its chat template's added tokens one id each (refused with tokenizer.model
alone). Refused input: hidden_activation,
layer_types, head_dim, rope_scaling types, factor lists, fused qkv_proj and
gate_up_proj of the wrong shape, hidden_act. With --atman: `atman explain` (both strategies and controls),
`generate` (KV cache = recompute), `answer` and `eval`.

Usage: test_import_gemma2_phi3.py --work-dir DIR [--atman build/atman]"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.check_log import Checks  # noqa: E402
from tests.python import make_gemma2_phi3_checkpoints as mg  # noqa: E402
from tests.python import reference_gemma2  # noqa: E402
from tests.python import test_import_gpt as tg  # noqa: E402
from tests.python import test_importer as ti  # noqa: E402
from tests.python.reference_gemma2 import ReferenceGemma2  # noqa: E402
from tests.python.reference_gemma2_attnlrp import Gemma2AttnLrp  # noqa: E402
from tests.python.reference_phi3 import ReferencePhi3  # noqa: E402


SHORT_PROMPT = "the cat saw the dog near the house"  # 28 positions with the 256-piece sentencepiece model


def make_cases(work):
    cases = {}

    def add(name, family, config, make_state, ref, expect, relevance=False, lrp=False, **kw):
        folder = os.path.join(work, "src", name)
        weights = mg.write_folder(folder, config, make_state, **kw)
        cases[name] = dict(src=folder, ref=ref(weights, config), config=config, image=False, relevance=relevance,
                           family=family, expect=expect, lrp=lrp)

    gemma = dict(add_bos=True, num_kv_heads=2, head_dim=12, sliding_window=4, sliding_window_layers=[0, 2])
    add("gemma2", "gemma2", mg.gemma2_config(), mg.gemma2_state, ReferenceGemma2, gemma, relevance=True,
        lrp=Gemma2AttnLrp, seed=41)
    add("gemma2_untied_bf16_sharded_types", "gemma2",
        mg.gemma2_config(tie_word_embeddings=False, layer_types=["full_attention", "sliding_attention",
                                                                 "full_attention"]),
        mg.gemma2_state, ReferenceGemma2, dict(gemma, sliding_window_layers=[1]), dtype=torch.bfloat16, shards=2,
        lrp=Gemma2AttnLrp, seed=42)
    phi3 = dict(add_bos=True, num_kv_heads=2, head_dim=8)
    add("phi3_window", "phi3", mg.phi3_config(sliding_window=5), mg.phi3_state, ReferencePhi3,
        dict(phi3, sliding_window=5), relevance=True, lrp=phi3_as_llama_lrp, seed=43)
    add("phi3_longrope_bf16", "phi3", mg.phi3_config(max_position_embeddings=128, original_max_position_embeddings=32,
                                                     rope_scaling=mg.longrope_scaling(4), tie_word_embeddings=True),
        mg.phi3_state, ReferencePhi3, dict(phi3, max_positions=32), dtype=torch.bfloat16, layout="bin", seed=44)
    return cases


def phi3_as_llama_lrp(ref):
    """AttnLRP's rules in float64 for a Phi-3 without rope scaling: its fused
    qkv_proj and gate_up_proj cut into LLaMA's separate weights (rows
    [q | k | v], [gate | up]) for reference_attnlrp.LlamaAttnLrp, the window
    as Mistral's."""
    from tests.python.reference_attnlrp import LlamaAttnLrp
    from tests.python.reference_llama import ReferenceLlama
    c = ref.c
    heads, kv = c["num_attention_heads"], c.get("num_key_value_heads") or c["num_attention_heads"]
    dh, f = c["hidden_size"] // heads, c["intermediate_size"]
    weights = {}
    for key, t in ref.w.items():
        if key.endswith("qkv_proj.weight"):
            base = key[:-len("qkv_proj.weight")]
            weights[base + "q_proj.weight"] = t[:heads * dh]
            weights[base + "k_proj.weight"] = t[heads * dh:(heads + kv) * dh]
            weights[base + "v_proj.weight"] = t[(heads + kv) * dh:]
        elif key.endswith("gate_up_proj.weight"):
            base = key[:-len("gate_up_proj.weight")]
            weights[base + "gate_proj.weight"], weights[base + "up_proj.weight"] = t[:f], t[f:]
        else:
            weights[key] = t
    llama = dict(c, model_type="mistral" if c.get("sliding_window") else "llama")
    return LlamaAttnLrp(ReferenceLlama(weights, llama))


def check_placement(checks, name, case, module):
    """The tolerance can tell where the modification sits: against the
    float64 network that modifies before the soft-cap, and one without caps."""
    ids = [1, 70, 33, 101, 7, 9, 250, 40, 41, 42, 43, 44]
    modifier = torch.ones(len(ids), dtype=torch.float64)
    modifier[2], modifier[6] = 0.1, 3.0
    with torch.no_grad():
        got = module(module.embed_text(torch.tensor([ids])), modifier.float()[None])[0]
    ref = case["ref"]
    emb = ref.embed_text(ids)
    right = ti.rel_err(got, ref.logits(emb, modifier))
    original = reference_gemma2.capped_atman_attention

    def before_cap(q, k, v, m, scale, cap, window, min_keys=None, log_additive=False):
        # the modification on the raw scores, then the cap: what DESIGN section 1 rules out
        heads, s, _ = q.shape
        group = heads // k.shape[0]
        out = torch.empty_like(q)
        hidden = torch.arange(s)[None, :] > torch.arange(s)[:, None]
        if window:
            hidden = hidden | (torch.arange(s)[None, :] <= torch.arange(s)[:, None] - window)
        for h in range(heads):
            raw = q[h] @ k[h // group].T * scale
            shifted = (raw - raw.min(dim=-1, keepdim=True).values) * m[None, :]
            scores = (cap * torch.tanh(shifted / cap)).masked_fill(hidden, float("-inf"))
            out[h] = torch.softmax(scores, dim=-1) @ v[h // group]
        return out
    try:
        reference_gemma2.capped_atman_attention = before_cap
        wrong_place = ti.rel_err(got, ref.logits(emb, modifier))
    finally:
        reference_gemma2.capped_atman_attention = original
    uncapped = ReferenceGemma2(ref.w, dict(ref.c, attn_logit_softcapping=None, final_logit_softcapping=None))
    no_caps = ti.rel_err(got, uncapped.logits(emb, modifier))
    checks.check("%s: the modification after the soft-cap, before the mask (1e-4), observably" % name,
                 right <= 1e-4 and wrong_place > 1e-2 and no_caps > 1e-2,
                 "err %.1e; modifying before the cap %.1e; without caps %.1e" % (right, wrong_place, no_caps))


def check_longrope_whole_sequence(checks, case, work, binary):
    """--max-positions past the original context: the factors are chosen per
    pass by its length (short for 24 positions, long for 60), and the model
    offers no cache method."""
    out = os.path.join(work, "out", "phi3_longrope_whole.pt")
    proc = ti.run_importer([case["src"], "--out", out, "--max-positions", "100"])
    checks.check("phi3 longrope --max-positions 100: import", proc.returncode == 0, proc.stderr.strip()[-300:])
    if proc.returncode:
        return
    module = torch.jit.load(out)
    ref, gen = case["ref"], torch.Generator().manual_seed(3)
    worst = {}
    for length in (24, 60):
        ids = torch.randint(3, 250, (length,), generator=gen).tolist()
        modifier = torch.ones(length, dtype=torch.float64)
        modifier[length // 3] = 0.1
        with torch.no_grad():
            got = module(module.embed_text(torch.tensor([ids])), modifier.float()[None])[0]
            additive = module.forward_additive(module.embed_text(torch.tensor([ids])),
                                               torch.log(modifier).float()[None])[0]
        emb = ref.embed_text(ids)
        worst[length] = max(ti.rel_err(got, ref.logits(emb, modifier)),
                            ti.rel_err(additive, ref.logits(emb, modifier, control="log-additive")))
    # The same 60 positions on the short factors would differ: the switch is observable.
    short = ReferencePhi3(ref.w, dict(ref.c, rope_scaling=dict(ref.c["rope_scaling"],
                                                               long_factor=ref.c["rope_scaling"]["short_factor"])))
    other = ti.rel_err(got, short.logits(emb, modifier))
    methods = [m for m in ("prefix_cache", "hidden_states_from_cache", "step_from_cache",
                           "hidden_states_from_cache_additive") if hasattr(module, m)]
    checks.check("phi3 longrope past the original context: short factors at 24, long at 60, no cache methods",
                 max(worst.values()) <= 1e-4 and other > 1e-2 and not methods,
                 "err %.1e (24), %.1e (60); short factors at 60 would give %.1e; cache methods %s"
                 % (worst[24], worst[60], other, methods))
    if not binary:
        return
    from tests.python import reference_atman
    _, config, carried = tg.load(out)
    ref = tg.Float64Adapter(case["ref"], config, tg.text_tokenizer(carried))
    prompt = tg.PROMPT  # 48 positions, past the original 32: the long factors
    got, err = tg.explain(binary, work, "phi3_whole", ["--model", out, "--prompt", prompt, "--target", tg.TARGET,
                                                      "--conceptual-threshold", "off"])
    if got is None:
        checks.check("phi3 longrope whole-sequence: atman explain", False, err)
        return
    want = reference_atman.explain(ref, prompt, tg.TARGET, None, 0.1, None)
    checks.within("phi3 longrope whole-sequence: atman explain (%d units) vs float64 reference"
                  % len(want["positions"]), tg.relative_error(got, want))
    proc = tg.atman(binary, "generate", "--model", out, "--prompt", prompt, "--suppress", "cat", "--max-tokens", "4",
                    "--json", os.path.join(work, "out", "phi3_whole_generate.json"))
    checks.check("phi3 longrope whole-sequence: atman generate (recomputing each step)", proc.returncode == 0,
                 proc.stderr.strip()[:200])


def check_phi3_chat_tokenizer(checks, work):
    """A Phi-3-instruct-style folder (tokenizer.model and tokenizer.json,
    the chat template's tokens added ones): tokenizer.json is read, the
    template's <|user|> is one id; with tokenizer.model alone that template
    is refused (sentencepiece would split <|user|> into pieces)."""
    folder = os.path.join(work, "src", "phi3_instruct")
    config = mg.phi3_config(vocab_size=512, eos_token_id=None, bos_token_id=None)
    weights = mg.write_folder(folder, config, mg.phi3_state, seed=45)
    ids = mg.write_phi3_instruct_tokenizer(folder)
    out = os.path.join(work, "out", "phi3_instruct.pt")
    proc = ti.run_importer([folder, "--out", out])
    checks.check("phi3 instruct: import", proc.returncode == 0, proc.stderr.strip()[-300:])
    if proc.returncode:
        return
    module, got, carried = tg.load(out)
    tok = tg.text_tokenizer(carried)
    prompt = tg.text_tokenizer(carried).encode(got["prompt_template"].replace("{question}", "Hi?"))
    checks.check("phi3 instruct: tokenizer.json read, template rendered, <|user|> one id, eos <|endoftext|>",
                 isinstance(carried, str) and got["prompt_template"] == "<|user|>\n{question}<|end|>\n<|assistant|>\n"
                 and prompt[0] == ids["<|user|>"] and ids["<|end|>"] in prompt and got["eos_id"] == ids["<|endoftext|>"],
                 "%s, first ids %s" % (json.dumps(got["prompt_template"]), prompt[:4]))
    case = dict(ref=ReferencePhi3(weights, config), image=False)
    ti.check_logits(checks, "phi3 instruct", case, module, got, tok)
    os.remove(os.path.join(folder, "tokenizer.json"))
    code, stderr = tg.import_in_process([folder, "--out", out + ".sp.pt"])
    checks.check("phi3 instruct with tokenizer.model alone: the template's added tokens refused in one line",
                 code == 1 and len(stderr.strip().splitlines()) == 1 and "|>\", which the sentencepiece tokenizer cannot"
                 in stderr, stderr.strip()[:300])


def bad_inputs(work, cases):
    copy, edit = tg.bad_copier(work, cases)
    out = [("gemma2 hidden_activation silu", [edit(copy("gemma2", "silu"), hidden_activation="silu")],
            "hidden_activation 'silu' is not supported"),
           ("gemma2 layer_types of the wrong length", [edit(copy("gemma2", "types"),
                                                            layer_types=["sliding_attention"])],
            "layer_types must list full_attention or sliding_attention for each of the 3 layers"),
           ("gemma2 rope_scaling dynamic", [edit(copy("gemma2", "dynamic"),
                                                 rope_scaling={"type": "dynamic", "factor": 2.0})],
            "rope_scaling type \"dynamic\" is not supported"),
           ("gemma2 q_proj for another head_dim", [edit(copy("gemma2", "head_dim"), head_dim=16)],
            "tensor model.layers.0.self_attn.q_proj.weight has shape [48, 32], the config implies [64, 32]"),
           ("phi3 rope_scaling yarn", [edit(copy("phi3_window", "yarn"), rope_scaling={"type": "yarn", "factor": 2.0})],
            "rope_scaling type \"yarn\" is not supported for Phi-3 (supported: longrope, su, or none)"),
           ("phi3 long_factor of the wrong length",
            [edit(copy("phi3_window", "short_list"), rope_scaling={"type": "su", "short_factor": [1.0] * 4,
                                                                   "long_factor": [1.0] * 3})],
            "rope_scaling long_factor must list 4 positive numbers (one per rotary pair)"),
           ("phi3 fused qkv_proj of the wrong shape", [edit(copy("phi3_window", "kv_heads"), num_key_value_heads=4)],
            "tensor model.layers.0.self_attn.qkv_proj.weight has shape [64, 32], the config implies [96, 32]"),
           ("phi3 fused gate_up_proj of the wrong shape", [edit(copy("phi3_window", "mlp"), intermediate_size=48)],
            "tensor model.layers.0.mlp.gate_up_proj.weight has shape [80, 32], the config implies [96, 32]"),
           ("phi3 hidden_act gelu", [edit(copy("phi3_window", "gelu"), hidden_act="gelu")],
            "hidden_act 'gelu' is not supported (supported: silu)")]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--atman", help="the atman binary: also explain, generate, answer and evaluate the imports")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    work = os.path.abspath(args.work_dir)
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    checks = Checks()
    cases = make_cases(work)
    for name, case in cases.items():
        module = tg.check_model(checks, name, case, work, args.atman)
        if module is not None and case["family"] == "gemma2":
            check_placement(checks, name, case, module)
        if name == "phi3_longrope_bf16":
            check_longrope_whole_sequence(checks, case, work, args.atman)
        if args.atman and case["relevance"]:
            tg.check_explain(checks, args.atman, name, case, work, prompt=SHORT_PROMPT)
            if case["lrp"]:
                tg.check_explain_attnlrp(checks, args.atman, name, case, work)
            tg.check_generate_answer_eval(checks, args.atman, name, work)
    check_phi3_chat_tokenizer(checks, work)
    tg.run_bad_inputs(checks, work, bad_inputs(work, cases))
    print("%d checks, %d failed, %.0f s" % (checks.count, len(checks.failed), time.time() - started))
    for name in checks.failed:
        print("FAILED: " + name)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
