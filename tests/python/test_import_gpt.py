#!/usr/bin/python3
"""Tests the GPT-style importers (docs/importing.md) end to end: random
checkpoints in the Hugging Face layouts of make_gpt_checkpoints.py are
imported with the command, and the models it writes are checked against the
independent float64 networks of reference_gpt.py:

- logits within 1e-4 of the largest |logit| (modifiers 1, 0.1, 0.3/2.0),
  prefix reuse = recompute, the prefix cache's shape, attention maps,
  step_from_cache (the KV cache) against the reference, forward_lrp and
  forward_additive (bias 0) = forward, Input x Gradient through forward_lrp
  against AttnLRP's rules propagated in float64 (reference_gpt_attnlrp.py),
  the log-additive control against the reference's, AtMan R[i,t] against reference_atman.py on the float64 network
  (single-token and conceptual), a sequence past max_positions refused;
- GPT-2: transformers' layout (safetensors, float32) and GPT-2's own
  (pytorch_model.bin of GPT2Model keys with the attn.bias buffers, float16,
  relu), the vocab.json + merges.txt tokenizer (<|endoftext|> as BOS and
  EOS, no BOS added);
- GPT-NeoX: parallel residual with half-split rotary on half of each head,
  and sequential with three quarters (partial_rotary_factor, newer configs'
  key), rotary_emb_base 500, a tied head, bf16 sharded .bin; GPT-J: rotary_dim 6 of 16 interleaved, GPT-J's added tokens,
  and rotary_dim null (the whole head) in float16 shards;
- refused input, one line and nothing written: each unsupported flag, the
  fused c_attn and query_key_value of the wrong shape, a GPT-J head without
  its bias, a missing merges.txt, --max-positions beyond GPT-2's learned
  positions.
With --atman: `atman explain` (prefix reuse and full recompute, kappa off and
0.6, the log-additive control, --method attnlrp) against the float64 reference, `atman
generate` with the KV cache = recompute, `atman answer`, `atman eval` on a
tiny text set. With --tokenizer-references DIR (the tokenizer_references
fixture's folder): GPT-2's real 50257-id BPE (tiktoken's gpt2 ranks, as
vocab.json + merges.txt and as tokenizer.json) imported with a tiny model,
and `atman tokenize` against tiktoken's ids on the fixture's strings.

Usage: test_import_gpt.py --work-dir DIR [--atman build/atman] [--tokenizer-references DIR]"""
import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.check_log import Checks  # noqa: E402
from tests.python import make_gpt_checkpoints as mg  # noqa: E402
from tests.python import reference_atman  # noqa: E402
from tests.python import test_importer as ti  # noqa: E402
from tests.python.reference_gpt import ReferenceGpt2, ReferenceGptj, ReferenceNeox  # noqa: E402
from tests.python.reference_gpt_attnlrp import GptAttnLrp  # noqa: E402
from tests.python.reference_tokenizer import ReferenceTokenizer  # noqa: E402

PROMPT = "the cat and the cat saw the dog near the old red house"
TARGET = " on the hill"


GPTJ_ADDED = {"<|extratoken_%d|>" % (n + 1): 310 + n for n in range(8)}  # GPT-J's added_tokens.json, shortened


def make_cases(work):
    """name -> dict(src, ref, config, family, relevance: also explain it (Python and the binary))."""
    cases = {}

    def add(name, family, config, write, ref, relevance=False, **kw):
        folder = os.path.join(work, "src", name)
        weights = write(folder, config, **kw)
        cases[name] = dict(src=folder, ref=ref(weights, config), config=config, image=False, relevance=relevance,
                           family=family)

    add("gpt2", "gpt2", mg.gpt2_config(), mg.write_gpt2_folder, ReferenceGpt2, relevance=True, seed=31)
    add("gpt2_own_layout_f16_relu", "gpt2", mg.gpt2_config(activation_function="relu", n_inner=40,
                                                           layer_norm_epsilon=1e-4),
        mg.write_gpt2_folder, ReferenceGpt2, layout="bin", dtype=torch.float16, base_prefix=False, seed=32)
    neox = lambda folder, config, **kw: mg.write_gpt_folder(folder, config, mg.neox_state, **kw)  # noqa: E731
    add("neox_parallel", "neox", mg.neox_config(), neox, ReferenceNeox, relevance=True, seed=34)
    # A newer config: partial_rotary_factor (three quarters of each head) instead of rotary_pct.
    sequential = mg.neox_config(use_parallel_residual=False, partial_rotary_factor=0.75, rotary_emb_base=500,
                                tie_word_embeddings=True, hidden_act="gelu_new")
    del sequential["rotary_pct"]
    add("neox_sequential_bf16_tied", "neox", sequential, neox, ReferenceNeox, layout="bin", shards=2,
        dtype=torch.bfloat16, seed=35)
    gptj = lambda folder, config, **kw: mg.write_gpt_folder(folder, config, mg.gptj_state, **kw)  # noqa: E731
    add("gptj", "gptj", mg.gptj_config(), gptj, ReferenceGptj, relevance=True, seed=36,
        extra_json={"added_tokens.json": GPTJ_ADDED})
    add("gptj_whole_head_sharded", "gptj", mg.gptj_config(rotary_dim=None, n_head=4, n_inner=48), gptj,
        ReferenceGptj, shards=3, dtype=torch.float16, seed=37)
    return cases


SHAPE_KEYS = {  # family: config.json's keys for (layers, heads, width, positions)
    "gpt2": ("n_layer", "n_head", "n_embd", "n_positions"),
    "gptj": ("n_layer", "n_head", "n_embd", "n_positions"),
    "neox": ("num_hidden_layers", "num_attention_heads", "hidden_size", "max_position_embeddings"),
    "gemma2": ("num_hidden_layers", "num_attention_heads", "hidden_size", "max_position_embeddings"),
    "phi3": ("num_hidden_layers", "num_attention_heads", "hidden_size", "max_position_embeddings"),
}


def load(path):
    """(module, config, the carried tokenizer.json text or sentencepiece model bytes)."""
    with zipfile.ZipFile(path) as z:
        names = {n.split("/extra/", 1)[1]: n for n in z.namelist() if "/extra/" in n}
        config = json.loads(z.read(names["atman/config.json"]))
        if "atman/tokenizer.json" in names:
            text = z.read(names["atman/tokenizer.json"]).decode()
        else:
            text = z.read(names["atman/tokenizer.model"])
    return torch.jit.load(path), config, text


def text_tokenizer(carried):
    """An encoder of the carried tokenizer: the independent reference for tokenizer.json, sentencepiece's own."""
    if isinstance(carried, str):
        return ReferenceTokenizer(carried)
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_proto=carried)


def check_config(checks, name, case, config):
    c = case["config"]
    layers, heads, width, positions = (c[k] for k in SHAPE_KEYS[case["family"]])
    want = dict(num_layers=layers, num_heads=heads, num_kv_heads=heads, head_dim=width // heads,
                max_positions=positions, add_bos=False,
                bos_id=c["bos_token_id"], eos_id=c["eos_token_id"], prompt_template="{question}", image=None)
    want.update(case.get("expect", {}))
    bad = {k: (config.get(k), v) for k, v in want.items() if config.get(k) != v}
    checks.check("%s: config (heads, head_dim, max_positions, BOS rule, bos/eos)" % name, not bad, json.dumps(bad))


def check_additive(checks, name, case, module, emb):
    """forward_additive with log m against the reference's log-additive control (a removed key included)."""
    s = emb.shape[1]
    factors = torch.ones(s, dtype=torch.float64)
    factors[2], factors[5] = 0.1, 0.0
    with torch.no_grad():
        got = module.forward_additive(emb, torch.log(factors).float()[None])[0]
        # The cache holds the clean positions before the first suppressed one.
        cached = module.hidden_states_from_cache_additive(emb[:, 2:], module.prefix_cache(emb[:, :2]),
                                                          torch.log(factors).float()[None])
        whole = module.hidden_states_additive(emb, torch.log(factors).float()[None])[:, 2:]
    want = case["ref"].logits(emb[0].double(), factors, control="log-additive")
    checks.within("%s: forward_additive vs reference log-additive control (f 0.1, 0)" % name, ti.rel_err(got, want))
    checks.within("%s: log-additive prefix reuse = recompute" % name, ti.rel_err(cached, whole), 1e-5)


def check_model(checks, name, case, work, binary=None):
    """Everything in Python on the imported model; with `binary`, AtMan's R is
    left to check_explain (the binary against the same reference)."""
    out = os.path.join(work, "out", name + ".pt")
    proc = ti.run_importer([case["src"], "--out", out])
    checks.check("%s: import" % name, proc.returncode == 0, proc.stderr.strip()[-300:])
    if proc.returncode:
        return None
    module, config, carried = load(out)
    tok = text_tokenizer(carried)
    check_config(checks, name, case, config)
    if name == "gptj":
        ids = tok.encode("a cat<|extratoken_3|> saw")
        checks.check("gptj: GPT-2's BPE plus GPT-J's added tokens (added_tokens.json)",
                     GPTJ_ADDED["<|extratoken_3|>"] in ids and len(json.loads(carried)["added_tokens"]) == 9, str(ids))
    emb, modifiers = ti.check_logits(checks, name, case, module, config, tok)
    cache = ti.check_prefix_reuse(checks, name, module, emb)
    ti.check_cache_shape(checks, name, cache, config, emb)
    ti.check_attentions(checks, name, module, emb, modifiers, config)
    ti.check_steps(checks, name, case, module, emb)
    with torch.no_grad():
        plain = module(emb, torch.ones(1, emb.shape[1]))
        lrp = module.forward_lrp(emb)
        additive = module.forward_additive(emb, torch.zeros(1, emb.shape[1]))
    checks.within("%s: forward_lrp and forward_additive (bias 0) = forward" % name,
                  max(ti.rel_err(lrp, plain), ti.rel_err(additive, plain)), 1e-5)
    check_additive(checks, name, case, module, emb)
    if case.get("lrp", True):
        check_lrp(checks, name, case, module, emb)
    if case["relevance"] and not binary:
        ti.check_relevance(checks, name, case, module, config, tok, None)
    try:
        too_long = module.embed_text(torch.ones(1, config["max_positions"] + 1, dtype=torch.long))
        module.hidden_states(too_long, torch.ones(1, too_long.shape[1]))
        refused = ""
    except Exception as e:  # torch.jit.Error
        refused = str(e)
    checks.check("%s: a sequence past max_positions is refused clearly" % name,
                 "exceed the model's max_positions %d" % config["max_positions"] in refused)
    return module


def check_lrp(checks, name, case, module, emb):
    """Input x Gradient through forward_lrp against AttnLRP's rules
    propagated explicitly in float64 (reference_gpt_attnlrp.py), for the
    last three rows' argmax tokens; and the reference's conservation."""
    lrp = case["lrp"](case["ref"]) if callable(case.get("lrp")) else GptAttnLrp(case["ref"], case["family"])
    emb64 = emb[0].double()
    worst, leak = 0.0, 0.0
    for row in range(emb.shape[1] - 3, emb.shape[1]):
        x = emb.detach().clone().requires_grad_(True)
        logits = module.forward_lrp(x)
        token = int(logits[0, row].argmax())
        logits[0, row, token].backward()
        got = (x.grad[0] * x[0]).sum(-1).detach().double()
        r, logit, ledger = lrp.relevance(emb64, row, token)
        want = r.sum(-1)
        worst = max(worst, float((got - want).abs().max() / want.abs().max()))
        leak = max(leak, abs(float(want.sum()) - (logit - ledger.bias - ledger.softmax)) / abs(logit))
    checks.within("%s: forward_lrp Input x Gradient vs AttnLRP's rules in float64 (3 rows)" % name, worst)
    checks.within("%s: the rules' reference conserves: sum R = logit - bias - softmax" % name, leak, 1e-9)


# ------------------------------------------------------------ bad inputs ---
def bad_copier(work, cases):
    """(copy(case, name) -> a copy of the case's folder under work/bad,
    edit(folder, **keys) -> the folder with config.json's keys changed)."""
    bad = os.path.join(work, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)

    def copy(case, name):
        dst = os.path.join(bad, name)
        shutil.copytree(cases[case]["src"], dst)
        return dst

    def edit_config(d, **change):
        path = os.path.join(d, "config.json")
        value = json.load(open(path))
        value.update(change)
        json.dump(value, open(path, "w"))
        return d
    return copy, edit_config


def bad_inputs(work, cases):
    copy, edit_config = bad_copier(work, cases)
    out = [("gpt2 scale_attn_by_inverse_layer_idx", [edit_config(copy("gpt2", "inverse_idx"),
                                                                 scale_attn_by_inverse_layer_idx=True)],
            "scale_attn_by_inverse_layer_idx true is not supported"),
           ("gpt2 reorder_and_upcast_attn", [edit_config(copy("gpt2", "upcast"), reorder_and_upcast_attn=True)],
            "reorder_and_upcast_attn true is not supported"),
           ("gpt2 scale_attn_weights false", [edit_config(copy("gpt2", "unscaled"), scale_attn_weights=False)],
            "scale_attn_weights false is not supported"),
           ("gpt2 add_cross_attention", [edit_config(copy("gpt2", "cross"), add_cross_attention=True)],
            "add_cross_attention true is not supported"),
           ("gpt2 activation gelu_fast", [edit_config(copy("gpt2", "gelu_fast"), activation_function="gelu_fast")],
            "activation_function 'gelu_fast' is not supported"),
           ("gpt2 --max-positions beyond n_positions", [copy("gpt2", "long"), "--max-positions", "200"],
            "--max-positions 200 exceeds n_positions 96")]
    d = copy("gpt2", "c_attn_shape")
    state = mg.gpt2_state(cases["gpt2"]["config"], torch.Generator().manual_seed(1))
    state["transformer.h.1.attn.c_attn.weight"] = state["transformer.h.1.attn.c_attn.weight"][:, :64].contiguous()
    os.remove(os.path.join(d, "model.safetensors"))
    mg.mk.write_weights(d, state, "safetensors", 1)
    out.append(("gpt2 fused c_attn of the wrong shape", [d],
                "tensor transformer.h.1.attn.c_attn.weight has shape [32, 64], the config implies [32, 96]"))
    d = copy("neox_parallel", "qkv_shape")
    state = mg.neox_state(cases["neox_parallel"]["config"], torch.Generator().manual_seed(1))
    state["gpt_neox.layers.0.attention.query_key_value.weight"] = torch.zeros(64, 32)
    os.remove(os.path.join(d, "model.safetensors"))
    mg.mk.write_weights(d, state, "safetensors", 1)
    out.append(("neox fused query_key_value of the wrong shape", [d],
                "tensor gpt_neox.layers.0.attention.query_key_value.weight has shape [64, 32], the config implies "
                "[96, 32]"))
    out += [("neox rotary_pct giving an odd count", [edit_config(copy("neox_parallel", "odd_rotary"), rotary_pct=0.375)],
             "rotary_pct 0.375 gives 3 rotary dimensions of 8"),
            ("neox rope_scaling dynamic", [edit_config(copy("neox_parallel", "dynamic"),
                                                       rope_scaling={"type": "dynamic", "factor": 2.0})],
             "rope_scaling type \"dynamic\" is not supported"),
            ("neox hidden_act silu", [edit_config(copy("neox_parallel", "silu"), hidden_act="silu")],
             "hidden_act 'silu' is not supported"),
            ("gptj rotary_dim beyond the head", [edit_config(copy("gptj", "rotary_wide"), rotary_dim=18)],
             "rotary_dim 18 must be even and within the head's 16 dimensions"),
            ("gptj activation gelu_fast", [edit_config(copy("gptj", "gptj_gelu_fast"), activation_function="gelu_fast")],
             "activation_function 'gelu_fast' is not supported")]
    d = copy("gptj", "gptj_no_bias")
    state = mg.gptj_state(cases["gptj"]["config"], torch.Generator().manual_seed(1))
    del state["lm_head.bias"]
    os.remove(os.path.join(d, "model.safetensors"))
    mg.mk.write_weights(d, state, "safetensors", 1)
    out.append(("gptj head without its bias", [d], "checkpoint lacks tensor lm_head.bias"))
    d = copy("gpt2", "no_merges")
    os.remove(os.path.join(d, "merges.txt"))
    out.append(("gpt2 vocab.json without merges.txt", [d], "vocab.json without merges.txt"))
    return out


def run_bad_inputs(checks, work, inputs):
    """inputs: (label, import arguments, text the one stderr line must contain)."""
    out_dir = os.path.join(work, "bad_out")
    os.makedirs(out_dir, exist_ok=True)
    for n, (label, args, expected) in enumerate(inputs):
        out = os.path.join(out_dir, "model%d.pt" % n)
        code, stderr = import_in_process(args[:1] + ["--out", out] + args[1:])
        lines = stderr.strip().splitlines()
        ok = (code == 1 and len(lines) == 1 and lines[0].startswith("import_checkpoint: ")
              and expected in lines[0] and not os.path.exists(out))
        checks.check("refused: " + label, ok, "exit %d: %s" % (code, stderr.strip()[:300]))


def import_in_process(argv):
    """(exit status, stderr) of import_checkpoint.main: the command's own
    code path without a Python start per refused input."""
    from torchscript_models import import_checkpoint
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = import_checkpoint.main(argv)
    return code, err.getvalue()


# ------------------------------------------------------------ the binary ---
def atman(binary, *args):
    return subprocess.run([binary] + list(args), capture_output=True, text=True)


def explain(binary, work, label, args):
    out = os.path.join(work, "out", label + ".json")
    proc = atman(binary, "explain", "--json", out, "--quiet", *args)
    if proc.returncode:
        return None, proc.stderr.strip()[:300]
    return json.load(open(out)), ""


def relative_error(got, want):
    if [p["members"] for p in got["positions"]] != [p["members"] for p in want["positions"]]:
        return float("inf")
    r_got = np.array([p["per_target"] for p in got["positions"]])
    r_want = np.array([p["per_target"] for p in want["positions"]])
    return float(np.abs(r_got - r_want).max() / np.abs(r_want).max())


class Float64Adapter(ti.ReferenceAdapter):
    """reference_atman's method over a float64 network, either control."""

    def logits(self, emb, modifier, control="multiplicative"):
        return self.ref.logits(emb, modifier, control=control)


def check_explain(checks, binary, name, case, work, prompt=PROMPT):
    """`atman explain` (both strategies; kappa off and 0.6; the log-additive
    control) against reference_atman driving the float64 network."""
    model = os.path.join(work, "out", name + ".pt")
    _, config, carried = load(model)
    ref = Float64Adapter(case["ref"], config, text_tokenizer(carried))
    for control, kappa in (("multiplicative", "off"), ("multiplicative", "0.6"), ("log-additive", "off")):
        runs = {}
        for strategy in ("prefix-reuse", "full-logits"):
            args = ["--model", model, "--prompt", prompt, "--target", TARGET, "--conceptual-threshold", kappa,
                    "--strategy", strategy, "--control", control, "--batch-size", "4"]
            got, err = explain(binary, work, "%s_%s_%s_%s" % (name, control, kappa, strategy), args)
            if got is None:
                checks.check("%s: atman explain --control %s --strategy %s" % (name, control, strategy), False, err)
                return
            runs[strategy] = got
        want = reference_atman.explain(ref, prompt, TARGET, None, 0.1, None if kappa == "off" else float(kappa),
                                       control=control)
        err = max(relative_error(got, want) for got in runs.values())
        checks.within("%s: atman explain (%s, kappa %s, both strategies) vs float64 reference (%d units)"
                      % (name, control, kappa, len(want["positions"])), err)
        checks.within("%s: prefix reuse = full recompute (%s, kappa %s)" % (name, control, kappa),
                      relative_error(runs["prefix-reuse"], runs["full-logits"]), 1e-5)


def check_explain_attnlrp(checks, binary, name, case, work):
    """`atman explain --method attnlrp` against AttnLRP's rules in float64."""
    from tests.python import reference_attnlrp
    model = os.path.join(work, "out", name + ".pt")
    _, config, carried = load(model)
    ref = ti.ReferenceAdapter(case["ref"], config, text_tokenizer(carried))
    got, err = explain(binary, work, name + "_attnlrp", ["--model", model, "--prompt", PROMPT, "--target", TARGET,
                                                          "--method", "attnlrp"])
    if got is None:
        checks.check("%s: atman explain --method attnlrp" % name, False, err)
        return
    lrp = case["lrp"](case["ref"]) if callable(case.get("lrp")) else GptAttnLrp(case["ref"], case["family"])
    want = reference_attnlrp.explain(ref, PROMPT, TARGET, lrp=lrp)
    checks.within("%s: atman explain --method attnlrp vs AttnLRP's rules in float64" % name,
                  relative_error(got, want))


def check_generate_answer_eval(checks, binary, name, work):
    model = os.path.join(work, "out", name + ".pt")
    runs = {}
    for label, extra in (("cache", []), ("recompute", ["--recompute"])):
        out = os.path.join(work, "out", "generate_%s_%s.json" % (name, label))
        proc = atman(binary, "generate", "--model", model, "--prompt", PROMPT, "--suppress", "cat", "--max-tokens",
                     "8", "--json", out, *extra)
        if proc.returncode:
            checks.check("%s: atman generate (%s)" % (name, label), False, proc.stderr.strip()[:200])
            return
        runs[label] = json.load(open(out))
    ok = (runs["cache"]["params"]["decode_path"] == "kv-cache"
          and runs["cache"]["steered"]["ids"] == runs["recompute"]["steered"]["ids"]
          and runs["cache"]["unsteered"]["ids"] == runs["recompute"]["unsteered"]["ids"])
    checks.check("%s: generate with the KV cache = full recompute (steered and not)" % name, ok,
                 "%s vs %s" % (runs["cache"]["steered"]["ids"], runs["recompute"]["steered"]["ids"]))
    proc = atman(binary, "answer", "--model", model, "--prompt", "the cat saw", "--max-tokens", "5")
    checks.check("%s: atman answer" % name, proc.returncode == 0, repr(proc.stdout.strip()[:60]) if
                 proc.returncode == 0 else proc.stderr.strip()[:200])
    data = os.path.join(work, "text_set")
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "items.jsonl"), "w") as f:
        f.write(json.dumps({"id": "txt-0", "task": "facts_qa", "prompt": "Alice lives in Paris. Bob likes tea. "
                            "Question: Where does Alice live? Answer:", "target": " Paris",
                            "evidence_span": [0, 21]}) + "\n")
    out = os.path.join(work, "out", "eval_" + name)
    shutil.rmtree(out, ignore_errors=True)
    proc = atman(binary, "eval", "--model", model, "--data", data, "--methods", "atman,ixg", "--out", out,
                 "--no-plots", "--quiet", "--threads", "1")
    ok, detail = proc.returncode == 0, proc.stderr.strip()[:200]
    if ok:  # the row found its ground truth: the evidence sentence's tokens, from the byte-level offsets
        rows = [json.loads(line) for line in open(os.path.join(out, "rows.jsonl"))]
        ok = bool(rows) and all(0 < r["truth_positions"] < r["positions"] for r in rows)
        detail = "%d rows, truth positions %s" % (len(rows), sorted({r["truth_positions"] for r in rows}))
    checks.check("%s: atman eval on a tiny text set" % name, ok, detail)


# ------------------------------------------------- GPT-2's real tokenizer ---
def check_real_gpt2_tokenizer(checks, binary, references, work):
    """tiktoken's gpt2 encoding, written by the fixture as a tokenizer.json,
    in both of GPT-2's layouts inside a tiny random model, and as GPT-J's
    (vocab.json + merges.txt and added_tokens.json's 143 <|extratoken_N|>,
    ids 50257..50399, vocab_size 50400); `atman tokenize` must give
    tiktoken's ids on the fixture's strings, and GPT-J's added tokens their
    own ids between two strings' tiktoken ids."""
    spec_path = os.path.join(references, "gpt2.tokenizer.json")
    expected_path = os.path.join(references, "gpt2.expected.json")
    strings_path = os.path.join(HERE, "..", "tokenizers", "strings.json")
    if not os.path.isfile(spec_path):
        checks.check("gpt2 real tokenizer: the fixture's files", False, "missing " + spec_path)
        return
    spec = json.load(open(spec_path, encoding="utf-8"))
    expected = json.load(open(expected_path))["ids"]
    strings = json.load(open(strings_path, encoding="utf-8"))
    config = mg.gpt2_config(vocab_size=50257, n_embd=16, n_layer=1, n_head=2, bos_token_id=50256,
                            eos_token_id=50256)
    extra = {"<|extratoken_%d|>" % n: 50256 + n for n in range(1, 144)}  # GPT-J's added_tokens.json
    plain = [i for i, t in enumerate(strings) if len(t) > 3 and t.replace(" ", "").isalpha() and t.isascii()][:2]
    joined = strings[plain[0]] + "<|extratoken_7|>" + strings[plain[1]]
    for layout in ("vocab_merges", "tokenizer_json", "gptj_added_tokens"):
        folder = os.path.join(work, "src", "gpt2_real_" + layout)
        mg.write_gpt2_folder(folder, dict(config, vocab_size=50400) if layout.startswith("gptj") else config, seed=33)
        for name in ("vocab.json", "merges.txt"):
            os.remove(os.path.join(folder, name))
        if layout.startswith("gptj"):
            json.dump(extra, open(os.path.join(folder, "added_tokens.json"), "w"))
        if layout != "tokenizer_json":
            json.dump(spec["model"]["vocab"], open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8"),
                      ensure_ascii=False)
            with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
                f.write("#version: 0.2\n" + "".join(m + "\n" for m in spec["model"]["merges"]))
        else:
            shutil.copy(spec_path, os.path.join(folder, "tokenizer.json"))
        out = os.path.join(work, "out", "gpt2_real_%s.pt" % layout)
        proc = ti.run_importer([folder, "--out", out])
        checks.check("gpt2 real tokenizer (%s): import" % layout, proc.returncode == 0, proc.stderr.strip()[:300])
        if proc.returncode or not binary:
            continue
        lines = os.path.join(work, "out", "gpt2_strings.jsonl")
        texts, want = list(strings), list(expected)
        if layout.startswith("gptj"):
            texts.append(joined)
            want.append(expected[plain[0]] + [extra["<|extratoken_7|>"]] + expected[plain[1]])
        with open(lines, "w", encoding="utf-8") as f:
            for text in texts:
                f.write(json.dumps(text) + "\n")
        proc = atman(binary, "tokenize", "--model", out, "--jsonl", lines, "--json")
        got = [json.loads(line)["ids"] for line in proc.stdout.splitlines()] if proc.returncode == 0 else []
        wrong = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        checks.check("gpt2 real tokenizer (%s): atman tokenize = tiktoken gpt2 on %d strings" % (layout, len(texts)),
                     len(got) == len(want) and not wrong,
                     proc.stderr.strip()[:200] or ("first difference: string %d %r" % (wrong[0], texts[wrong[0]])
                                                   if wrong else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--atman", help="the atman binary: also explain, generate, answer and evaluate the imports")
    parser.add_argument("--tokenizer-references", metavar="DIR",
                        help="the tokenizer_references fixture's folder (gpt2.tokenizer.json, gpt2.expected.json)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    work = os.path.abspath(args.work_dir)
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    checks = Checks()
    cases = make_cases(work)
    for name, case in cases.items():
        check_model(checks, name, case, work, args.atman)
        if args.atman and case["relevance"]:
            check_explain(checks, args.atman, name, case, work)
            if case.get("lrp", True):
                check_explain_attnlrp(checks, args.atman, name, case, work)
            check_generate_answer_eval(checks, args.atman, name, work)
    run_bad_inputs(checks, work, bad_inputs(work, cases))
    if args.tokenizer_references:
        check_real_gpt2_tokenizer(checks, args.atman, args.tokenizer_references, work)
    print("%d checks, %d failed, %.0f s" % (checks.count, len(checks.failed), time.time() - started))
    for name in checks.failed:
        print("FAILED: " + name)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
