#!/usr/bin/python3
"""Tests torchscript_models/import_checkpoint.py end to end: random
checkpoints in the exact Hugging Face and llama2.c layouts are imported with
the command, and the models it writes are checked against the independent
float64 reference (reference_llama.py) and AtMan reference
(reference_atman.py); every refused input is checked for its one stderr line,
exit code and absent output; stories260K (a real pretrained model) must
reproduce llama2.c's documented greedy text.

Usage: test_importer.py --work-dir DIR [--stories /work/shared/models/stories260K]
                        [--atman build/atman]   (also checks the C++ binary on the imports)
Exit status 1 when any check fails; each check prints its measured error."""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMPORTER = os.path.join(ROOT, "torchscript_models", "import_checkpoint.py")
PYTHON = "/usr/bin/python3"
from tests.python.check_log import Checks  # noqa: E402
from tests.python.float32_rounding import REORDER_ULPS, ULP  # noqa: E402
from tests.python import make_hf_checkpoints as mk  # noqa: E402
from tests.python import reference_atman  # noqa: E402
from tests.python.reference_llama import ReferenceLlama, ReferenceLlava  # noqa: E402

STORIES_TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park."


def run_importer(args):
    return subprocess.run([PYTHON, IMPORTER] + args, capture_output=True, text=True)


def load(path):
    extra = {"atman/config.json": "", "atman/tokenizer.model": ""}
    module = torch.jit.load(path, _extra_files=extra)
    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(extra["atman/tokenizer.model"])
    return module, json.loads(extra["atman/config.json"]), sp


def rel_err(got, want):
    got, want = got.to(torch.float64), want.to(torch.float64)
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))


# ------------------------------------------------------------ the layouts ---
llama_config = mk.llama_config


def mistral_config(**over):
    return llama_config(architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=3, **over)


def llava_config(text, **over):
    vision = dict(model_type="clip_vision_model", hidden_size=24, intermediate_size=40, num_hidden_layers=3,
                  num_attention_heads=4, image_size=16, patch_size=4, layer_norm_eps=1e-5, hidden_act="quick_gelu")
    c = dict(architectures=["LlavaForConditionalGeneration"], model_type="llava", image_token_index=255,
             vision_feature_layer=-2, vision_feature_select_strategy="default", projector_hidden_act="gelu",
             text_config=dict(text, architectures=None), vision_config=vision)
    c.update(over)
    return c


def trimmed_llava(config):
    """As llava-hf's config.json: keys at their defaults left out."""
    c = json.loads(json.dumps(config))
    for key in ("projector_hidden_act", "vision_feature_select_strategy"):
        c.pop(key)
    c["vision_config"].pop("hidden_act")
    c["text_config"].pop("architectures")
    return c


PREPROCESSOR = {"crop_size": {"height": 16, "width": 16}, "do_center_crop": True, "size": {"shortest_edge": 16},
                "image_mean": [0.5, 0.4, 0.3], "image_std": [0.2, 0.25, 0.3]}
# SigLIP (llava-interleave's tower): no class token, gelu_pytorch_tanh, every
# patch ("full"), here the second of three layers; a pooling head in the
# checkpoint (vision_use_head) that LLaVA never uses. Its processor: straight
# to 16 x 16 with Pillow's bicubic, mean and std 0.5.
SIGLIP_VISION = dict(model_type="siglip_vision_model", hidden_size=24, intermediate_size=40, num_hidden_layers=3,
                     num_attention_heads=4, image_size=16, patch_size=4, layer_norm_eps=1e-6,
                     hidden_act="gelu_pytorch_tanh", vision_use_head=True)
SIGLIP_PREPROCESSOR = {"image_processor_type": "SiglipImageProcessor", "do_resize": True, "resample": 3,
                       "size": {"height": 16, "width": 16}, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}
# A processor chat template (LLaVA-1.5's shape) that places the image; its
# answers in transformers' {% generation %} block.
LLAVA_CHAT = ("{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}"
              "{% endif %}{% for part in message['content'] | selectattr('type', 'equalto', 'image') %}"
              "{{ '<image>\n' }}{% endfor %}{% if message['role'] != 'assistant' %}"
              "{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}{{ part['text'] + ' ' }}"
              "{% endfor %}{% else %}{% for part in message['content'] | selectattr('type', 'equalto', 'text') %}"
              "{% generation %}{{ part['text'] + ' ' }}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
              "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}")


def make_cases(work):
    """name -> dict(folder/src, reference, config, kind, import args)."""
    cases = {}

    def hf(name, config, **kw):
        folder = os.path.join(work, "src", name)
        weights = mk.write_llama_folder(folder, config, **kw)
        cases[name] = dict(src=folder, ref=ReferenceLlama(weights, config), config=config, image=False)

    hf("llama_mha_f32", llama_config())
    hf("llama_gqa_tied_bias_bf16_sharded", llama_config(num_key_value_heads=2, tie_word_embeddings=True,
                                                        attention_bias=True, mlp_bias=True, rope_theta=500000.0),
       shards=3, dtype=torch.bfloat16, seed=1)
    hf("llama_mqa_f16_bin", llama_config(num_key_value_heads=1, bos_token_id=None, eos_token_id=None),
       layout="bin", dtype=torch.float16, seed=2, extra_json={"generation_config.json": {"bos_token_id": 1,
                                                                                        "eos_token_id": [2, 3]}})
    hf("llama_untied_bin_sharded", llama_config(num_key_value_heads=2), layout="bin", shards=2, seed=3)
    hf("mistral_window3_headdim", mistral_config(num_key_value_heads=2, head_dim=12), shards=2, seed=4)

    for name, text, kw in (("llava_llama_f16_sharded", llama_config(num_key_value_heads=2),
                            dict(shards=2, dtype=torch.float16)),
                           ("llava_mistral_bin", mistral_config(num_key_value_heads=2, tie_word_embeddings=True),
                            dict(layout="bin"))):
        config = llava_config(text)
        folder = os.path.join(work, "src", name)
        weights = mk.write_llava_folder(folder, config, seed=5, written_config=trimmed_llava(config),
                                        extra_json={"preprocessor_config.json": PREPROCESSOR}, **kw)
        cases[name] = dict(src=folder, ref=ReferenceLlava(weights, config), config=config, image=True)
    config = llava_config(llama_config(num_key_value_heads=2), vision_config=SIGLIP_VISION, vision_feature_layer=2,
                          vision_feature_select_strategy="full")
    folder = os.path.join(work, "src", "llava_siglip_chat")
    weights = mk.write_llava_folder(folder, config, seed=7, extra_json={
        "preprocessor_config.json": SIGLIP_PREPROCESSOR, "chat_template.json": {"chat_template": LLAVA_CHAT}})
    cases["llava_siglip_chat"] = dict(src=folder, ref=ReferenceLlava(weights, config), config=config, image=True)

    tokenizer_bin = write_small_llama2c_tokenizer(os.path.join(work, "src", "tokenizer.bin"))
    for name, shared in (("llama2c_shared", True), ("llama2c_unshared", False)):
        path = os.path.join(work, "src", name + ".bin")
        weights, config = mk.write_llama2c(path, 32, 40, 2, 4, 2, 340, 48, shared_classifier=shared, seed=6)
        cases[name] = dict(src=path, ref=ReferenceLlama(weights, config, rotary="interleaved"), config=config,
                           image=False, args=["--tokenizer", tokenizer_bin])
    return cases


# --------------------------------------------------- llama2.c's tokenizer ---
def write_small_llama2c_tokenizer(path):
    """A llama2.c tokenizer.bin: <unk> <s> </s>, 256 byte pieces, ASCII
    letters and space, then merges in score order."""
    pieces = [("<unk>", 0.0), ("\n<s>\n", 0.0), ("\n</s>\n", 0.0)] + [("<0x%02X>" % b, 0.0) for b in range(256)]
    singles = " abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,!?"
    merges = [" t", "he", " the", "in", "ing", " a", "an", " and", "er", " w", "as", " was", "on", " on", "ll"]
    pieces += [(m, -float(i)) for i, m in enumerate(merges)]
    pieces += [(c, -100.0 - i) for i, c in enumerate(singles)]
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(p.encode()) for p, _ in pieces)))
        for text, score in pieces:
            raw = text.encode()
            f.write(struct.pack("<fi", score, len(raw)) + raw)
    return path


def llama2c_encode(path, text):
    """run.c's encode: dummy-prefix space, UTF-8 characters (bytes + 3 when
    missing), then merges of the best-scoring adjacent pair, leftmost first."""
    data = open(path, "rb").read()
    pieces, scores, o = [], [], 4
    while o < len(data):
        score, n = struct.unpack_from("<fi", data, o)
        pieces.append(data[o + 8:o + 8 + n].decode())
        scores.append(score)
        o += 8 + n
    lookup = {p: i for i, p in enumerate(pieces)}
    tokens = [lookup[" "]] if text else []
    for ch in text:
        tokens += [lookup[ch]] if ch in lookup else [b + 3 for b in ch.encode()]
    while True:
        best = None
        for i in range(len(tokens) - 1):
            merged = lookup.get(pieces[tokens[i]] + pieces[tokens[i + 1]])
            if merged is not None and (best is None or scores[merged] > scores[best[0]]):
                best = (merged, i)
        if best is None:
            return tokens
        tokens[best[1]:best[1] + 2] = [best[0]]


def check_tokenizer(checks, tokenizer_bin, sp, label):
    texts = ["Once upon a time", "the cat and the dog", "Hello,  world!", "x", "Zoë was on the hill\nthen",
             "ther the there", "  two leading"]
    bad = [t for t in texts if sp.encode(t) != llama2c_encode(tokenizer_bin, t)]
    checks.check("%s: converted tokenizer encodes as run.c (%d texts)" % (label, len(texts)), not bad,
                 "differs on %r" % bad[0] if bad else "")


# ------------------------------------------------------------ the checks ---
def sequence(case, module, config, sp, gen):
    """Embeddings (model, float32) and ids/pixels for the reference: BOS,
    text, [image patches,] text."""
    ids_a = [config["bos_id"]] + sp.encode("the cat and the dog")
    ids_b = sp.encode(" on the hill")
    with torch.no_grad():
        parts = [module.embed_text(torch.tensor([ids_a]))[0]]
        ref_parts = [case["ref"].embed_text(ids_a)]
        if case["image"]:
            pixels = torch.randn(3, 16, 16, generator=gen)
            parts.append(module.embed_image(pixels[None])[0])
            ref_parts.append(case["ref"].embed_image(pixels.double()))
        parts.append(module.embed_text(torch.tensor([ids_b]))[0])
        ref_parts.append(case["ref"].embed_text(ids_b))
    return torch.cat(parts)[None], torch.cat(ref_parts)


def check_logits(checks, name, case, module, config, sp):
    gen = torch.Generator().manual_seed(1)
    emb, ref_emb = sequence(case, module, config, sp, gen)
    s = emb.shape[1]
    checks.within("%s: embeddings vs reference" % name, rel_err(emb[0], ref_emb))
    modifiers = torch.ones(3, s)
    modifiers[1, 2] = 0.1
    modifiers[2, [1, 4]] = torch.tensor([0.3, 2.0])
    with torch.no_grad():
        got = module(ref_emb.float()[None], modifiers)
    err = max(rel_err(got[b], case["ref"].logits(ref_emb, modifiers[b].double())) for b in range(3))
    checks.within("%s: logits vs float64 reference (m=1, 0.1, 0.3/2.0)" % name, err)
    return emb, modifiers


def check_prefix_reuse(checks, name, module, emb):
    s = emb.shape[1]
    worst = 0.0
    with torch.no_grad():
        for start in (1, s // 2, s - 1):
            modifier = torch.ones(2, s)
            modifier[0, start] = 0.1
            modifier[1, s - 1] = 2.5
            modifier[1, start] = 0.05
            full = module.hidden_states(emb, modifier)[:, start:]
            cache = module.prefix_cache(emb[:, :start])
            part = module.hidden_states_from_cache(emb[:, start:], cache, modifier)
            worst = max(worst, rel_err(part, full))
    checks.within("%s: prefix_cache + hidden_states_from_cache = full (3 starts)" % name, worst, 1e-5)
    return cache


def check_cache_shape(checks, name, cache, config, emb):
    heads = config["num_kv_heads"]
    ok = cache.dim() == 5 and list(cache.shape[:4]) == [config["num_layers"], 2, heads, emb.shape[1] - 1]
    checks.check("%s: prefix_cache shape [L, 2, Hkv, P, dh]" % name, ok, str(list(cache.shape)))


def check_attentions(checks, name, module, emb, modifiers, config):
    with torch.no_grad():
        logits, maps = module.forward_with_attentions(emb, modifiers)
        plain = module(emb, modifiers)
    s = emb.shape[1]
    ok = len(maps) == config["num_layers"] and all(list(m.shape) == [3, config["num_heads"], s, s] for m in maps)
    sums = max(float((m.sum(-1) - 1).abs().max()) for m in maps)
    upper = max(float(m.triu(1).abs().max()) for m in maps)
    # forward_with_attentions and forward are two float32 code paths: their logits agree up to the
    # order of their sums, 64 ULPs of the largest |logit| (float32_rounding.py, issue 28).
    checks.check("%s: forward_with_attentions [B,H,S,S] per layer, rows sum 1" % name,
                 ok and sums < 1e-5 and upper == 0 and rel_err(logits, plain) <= REORDER_ULPS * ULP,
                 "row-sum err %.1e, above diagonal %.1e" % (sums, upper))


def check_steps(checks, name, case, module, emb):
    """step_from_cache token by token. All-ones modifier: every new row
    equals hidden_states on the whole sequence. Prompt positions suppressed
    and amplified: the newest row is compared with the float64 reference in
    which each row's minimum runs over the keys that existed when it was
    computed. It is not compared with hidden_states on the whole sequence:
    there an earlier row q takes its minimum over all S keys, including
    later keys that did not exist when step_from_cache computed row q; with
    a non-uniform modifier that minimum does not cancel in the softmax, so
    the earlier rows differ, and from the second layer on the newest row
    reads those rows' keys and values. (A whole-prompt step does equal
    hidden_states: its rows see the same keys.)"""
    s = emb.shape[1]
    lm = module
    prompt = 4
    with torch.no_grad():
        for label, modifier in (("m=1", torch.ones(1, s)), ("m suppresses/amplifies prompt", None)):
            if modifier is None:
                modifier = torch.ones(1, s)
                modifier[0, 1], modifier[0, 3] = 0.1, 3.0
            cache = empty_cache(lm, emb)
            hidden, cache = lm.step_from_cache(emb[:, :prompt], cache, modifier[:, :prompt])
            first = rel_err(lm.lm_head(hidden[0]), lm(emb[:, :prompt], modifier[:, :prompt])[0])
            rows = [lm.lm_head(hidden[0, -1])]
            for t in range(prompt, s):
                hidden, cache = lm.step_from_cache(emb[:, t:t + 1], cache, modifier[:, :t + 1])
                rows.append(lm.lm_head(hidden[0, -1]))
            steps = torch.stack(rows)
            emb64 = emb[0].double()
            if label == "m=1":
                want = torch.stack([lm(emb[:, :t + 1], modifier[:, :t + 1])[0, -1] for t in range(prompt - 1, s)])
                checks.within("%s: step_from_cache = hidden_states, newest rows, %s" % (name, label),
                              rel_err(steps, want), 1e-5)
            else:
                min_keys = [prompt] * prompt + list(range(prompt + 1, s + 1))
                want = case["ref"].logits(emb64, modifier[0].double(), min_keys)[prompt - 1:]
                whole = lm(emb, modifier)[0, prompt - 1:]
                checks.within("%s: step_from_cache vs reference (rows' own minimum), %s" % (name, label),
                              rel_err(steps, want))
                print("     (vs hidden_states on the whole sequence, which may differ: %.2e)" % rel_err(steps, whole))
            checks.within("%s: whole-prompt step = hidden_states, %s" % (name, label), first, 1e-5)
            ok = list(cache.shape[2:4]) == [module.prefix_cache(emb[:, :1]).shape[2], s]
            checks.check("%s: step_from_cache returns the cache of all %d positions, %s" % (name, s, label), ok,
                         str(list(cache.shape)))


def empty_cache(module, emb):
    """[L, 2, Hkv, 0, dh]: step_from_cache's start."""
    return module.prefix_cache(emb[:, :1])[:, :, :, :0]


class ImportedAdapter(reference_atman.Reference):
    """reference_atman's method driving the imported TorchScript model."""

    def __init__(self, module, config, sp):
        self.module, self.config, self.sp = module, config, sp

    def embed_text(self, ids):
        with torch.no_grad():
            return self.module.embed_text(torch.tensor([ids]))[0].double()

    def embed_image(self, pixels):
        with torch.no_grad():
            return self.module.embed_image(pixels.float()[None])[0].double()

    def logits(self, emb, modifier):
        with torch.no_grad():
            return self.module(emb.float()[None], modifier.float()[None])[0].double()


class ReferenceAdapter(reference_atman.Reference):
    """reference_atman's method driving the float64 reference network."""

    def __init__(self, ref, config, sp):
        self.ref, self.config, self.sp = ref, config, sp

    def embed_text(self, ids):
        return self.ref.embed_text(ids)

    def embed_image(self, pixels):
        return self.ref.embed_image(pixels)

    def logits(self, emb, modifier):
        return self.ref.logits(emb, modifier)


def check_relevance(checks, name, case, module, config, sp, image_path):
    prompt, target = "the cat and the cat saw the dog", " on the hill"
    for kappa in (None, 0.6):
        got = reference_atman.explain(ImportedAdapter(module, config, sp), prompt, target, image_path, 0.1, kappa)
        want = reference_atman.explain(ReferenceAdapter(case["ref"], config, sp), prompt, target, image_path, 0.1,
                                       kappa)
        r_got = np.array([p["per_target"] for p in got["positions"]])
        r_want = np.array([p["per_target"] for p in want["positions"]])
        same = [p["members"] for p in got["positions"]] == [p["members"] for p in want["positions"]]
        err = float(np.abs(r_got - r_want).max() / np.abs(r_want).max()) if same else float("inf")
        checks.within("%s: AtMan R[i,t] vs reference_atman, %s (%d units, max|R| %.2f)"
                      % (name, "conceptual 0.6" if kappa else "single-token", len(r_want), np.abs(r_want).max()),
                      err)


def check_bfloat16(checks, name, case, work):
    out = os.path.join(work, "out", name + "_bf16.pt")
    proc = run_importer([case["src"], "--out", out, "--dtype", "bfloat16"] + case.get("args", []))
    if proc.returncode:
        checks.check("%s: --dtype bfloat16 import" % name, False, proc.stderr.strip())
        return
    module, config, sp = load(out)
    ids = [1] + sp.encode("the cat and the dog")
    with torch.no_grad():
        emb = module.embed_text(torch.tensor([ids]))
        modifier = torch.ones(1, len(ids), dtype=torch.bfloat16)
        logits = module(emb, modifier)
        hidden, cache = module.step_from_cache(emb, empty_cache(module, emb), modifier)
    want = case["ref"].logits(case["ref"].embed_text(ids), torch.ones(len(ids), dtype=torch.float64))
    err = rel_err(logits[0].float(), want)
    checks.check("%s: --dtype bfloat16 computes in bfloat16 (logits, cache)" % name,
                 logits.dtype == torch.bfloat16 and cache.dtype == torch.bfloat16 and err < 0.05,
                 "dtype %s, max err %.2e vs float64 (tolerance 5e-2)" % (logits.dtype, err))


def check_options(checks, cases, work):
    """--image-resize, --prompt-template, --max-positions, --name reach the
    config; the LLaVA image entry comes from preprocessor_config.json."""
    out = os.path.join(work, "out", "llava_options.pt")
    proc = run_importer([cases["llava_llama_f16_sharded"]["src"], "--out", out, "--image-resize", "pad",
                         "--prompt-template", "Q: {image} {question} A:", "--max-positions", "40", "--name", "opt"])
    if proc.returncode:
        checks.check("options reach the config", False, proc.stderr.strip())
        return
    _, config, _ = load(out)
    want = {"size": [16, 16], "grid": [4, 4], "mean": PREPROCESSOR["image_mean"], "std": PREPROCESSOR["image_std"],
            "resize": "pad", "resample": "pil_bicubic"}
    checks.check("options reach the config (resize, template, max_positions, name)",
                 config["image"] == want and config["prompt_template"] == "Q: {image} {question} A:"
                 and config["max_positions"] == 40 and config["name"] == "opt" and config["image_token_index"] == 255,
                 json.dumps(config))
    _, default, _ = load(os.path.join(work, "out", "llava_llama_f16_sharded.pt"))
    checks.check("LLaVA defaults: center_crop from the CLIP processor, LLaVA-1.5 template",
                 default["image"]["resize"] == "center_crop"
                 and default["prompt_template"] == "USER: {image}\n{question} ASSISTANT:"
                 and default["max_positions"] == 64, json.dumps(default["image"]))


def check_cpp_explain(checks, atman, name, case, work):
    """`atman explain` on an imported model against reference_atman driving
    the float64 reference network."""
    model = os.path.join(work, "out", name + ".pt")
    module, config, sp = load(model)
    prompt, target = "the cat and the cat saw the dog", " on the hill"
    for kappa in ("off", "0.6"):
        out_json = os.path.join(work, "out", "%s_%s.json" % (name, kappa))
        proc = subprocess.run([atman, "explain", "--model", model, "--prompt", prompt, "--target", target,
                               "--conceptual-threshold", kappa, "--granularity", "token", "--json", out_json,
                               "--quiet"], capture_output=True, text=True)
        if proc.returncode:
            checks.check("%s: atman explain, kappa %s" % (name, kappa), False, proc.stderr.strip()[:300])
            continue
        got = json.load(open(out_json))
        want = reference_atman.explain(ReferenceAdapter(case["ref"], config, sp), prompt, target, None, 0.1,
                                       None if kappa == "off" else float(kappa))
        r_got = np.array([p["per_target"] for p in got["positions"]])
        r_want = np.array([p["per_target"] for p in want["positions"]])
        err = float(np.abs(r_got - r_want).max() / np.abs(r_want).max()) if r_got.shape == r_want.shape \
            else float("inf")
        checks.within("%s: atman explain R[i,t] vs reference, kappa %s" % (name, kappa), err)


def check_case(checks, name, case, work, image_path):
    out = os.path.join(work, "out", name + ".pt")
    started = time.time()
    proc = run_importer([case["src"], "--out", out] + case.get("args", []))
    checks.check("%s: import" % name, proc.returncode == 0,
                 proc.stderr.strip() or "%.1f s, %s" % (time.time() - started, proc.stdout.strip()))
    if proc.returncode:
        return
    module, config, sp = load(out)
    text = case["config"]["text_config"] if case["image"] else case["config"]
    want_kv = text.get("num_key_value_heads") or text["num_attention_heads"]
    checks.check("%s: config num_kv_heads, bos/eos, image" % name,
                 config["num_kv_heads"] == want_kv and config["bos_id"] == 1 and config.get("eos_id") == 2
                 and (config["image"] is not None) == case["image"],
                 "kv %d, bos %s, eos %s, image %s" % (config["num_kv_heads"], config["bos_id"], config.get("eos_id"),
                                                     json.dumps(config["image"])))
    emb, modifiers = check_logits(checks, name, case, module, config, sp)
    cache = check_prefix_reuse(checks, name, module, emb)
    check_cache_shape(checks, name, cache, config, emb)
    check_attentions(checks, name, module, emb, modifiers, config)
    check_steps(checks, name, case, module, emb)
    if name in ("llama_gqa_tied_bias_bf16_sharded", "llava_llama_f16_sharded", "llama2c_unshared"):
        check_relevance(checks, name, case, module, config, sp, image_path if case["image"] else None)
    try:
        too_long = module.embed_text(torch.ones(1, config["max_positions"] + 1, dtype=torch.long))
        module.hidden_states(too_long, torch.ones(1, too_long.shape[1]))
        refused = ""
    except Exception as e:  # torch.jit.Error
        refused = str(e)
    checks.check("%s: a sequence past max_positions is refused clearly" % name,
                 "exceed the model's max_positions %d" % config["max_positions"] in refused)
    if not case["image"]:
        try:
            module.embed_image(torch.zeros(1, 3, 16, 16))
            refused = ""
        except Exception as e:  # torch.jit.Error, raised by the scripted method
            refused = str(e)
        checks.check("%s: text-only embed_image refuses clearly" % name, "text-only model" in refused)


# ------------------------------------------------------------ bad inputs ---
def corrupt_safetensors(path, edit):
    """Rewrites the JSON header of a safetensors file through edit(header)."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data[8 + n:])


def bad_inputs(work, cases):
    """(label, import arguments, text the one stderr line must contain)."""
    bad = os.path.join(work, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)

    def copy(case, name):
        dst = os.path.join(bad, name)
        shutil.copytree(cases[case]["src"], dst)
        return dst

    def edit_json(path, change):
        value = json.load(open(path))
        change(value)
        json.dump(value, open(path, "w"))

    out = []
    d = copy("llama_mha_f32", "no_config")
    os.remove(os.path.join(d, "config.json"))
    out.append(("missing config.json", [d], "no config.json"))
    d = copy("llama_gqa_tied_bias_bf16_sharded", "missing_shard")
    os.remove(os.path.join(d, "model-00002-of-00003.safetensors"))
    out.append(("missing shard", [d], "missing shard model-00002-of-00003.safetensors"))
    d = copy("llama_gqa_tied_bias_bf16_sharded", "index_extra")
    edit_json(os.path.join(d, "model.safetensors.index.json"),
              lambda v: v["weight_map"].update({"model.layers.0.extra.weight": "model-00001-of-00003.safetensors"}))
    out.append(("index names a tensor no shard holds", [d], "does not hold it"))
    d = copy("llama_untied_bin_sharded", "bin_index_extra")
    edit_json(os.path.join(d, "pytorch_model.bin.index.json"),
              lambda v: v["weight_map"].update({"model.norm.weight": "pytorch_model-00001-of-00002.bin"}))
    out.append(("bin index puts a tensor in the wrong shard", [d], "does not hold it"))
    d = copy("llama_mha_f32", "wrong_shape")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(intermediate_size=49))
    out.append(("wrong tensor shape", [d], "has shape [48, 32], the config implies [49, 32]"))
    d = copy("llama_mha_f32", "unknown_arch")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(architectures=["BloomForCausalLM"]))
    out.append(("unknown architecture", [d], "architecture BloomForCausalLM is not supported (supported: "))
    d = copy("llama_mha_f32", "rope_scaling")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(rope_scaling={"type": "yarn", "factor": 2.0}))
    out.append(("unsupported rope_scaling", [d], "rope_scaling type \"yarn\" is not supported"))
    d = copy("llama_mha_f32", "gelu_lm")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(hidden_act="gelu"))
    out.append(("language-model hidden_act gelu", [d], "hidden_act 'gelu' is not supported"))
    d = copy("llava_llama_f16_sharded", "pixtral")
    edit_json(os.path.join(d, "config.json"), lambda v: v["vision_config"].update(model_type="pixtral"))
    out.append(("unknown vision tower", [d], "vision tower 'pixtral' is not supported"))
    d = copy("llava_siglip_chat", "siglip_default")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(vision_feature_select_strategy="default"))
    out.append(("SigLIP with vision_feature_select_strategy default", [d],
                "vision_feature_select_strategy 'default' is not supported with siglip_vision_model (supported: full"))
    d = copy("llava_siglip_chat", "siglip_embeddings")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(vision_feature_layer=0))
    out.append(("SigLIP feature layer 0", [d], "vision_feature_layer 0 selects SigLIP's patch embeddings"))
    d = copy("llava_siglip_chat", "siglip_nearest")
    edit_json(os.path.join(d, "preprocessor_config.json"), lambda v: v.update(resample=0))
    out.append(("processor resample nearest", [d], "resample 0 is not supported (supported: Pillow's 1 (lanczos)"))
    d = copy("llava_siglip_chat", "siglip_rescale")
    edit_json(os.path.join(d, "preprocessor_config.json"), lambda v: v.update(rescale_factor=1 / 127.5))
    out.append(("processor rescale_factor other than 1/255", [d], "rescale_factor 0.00784313725490196 is not "
                "supported (supported: 1/255)"))
    d = copy("llava_siglip_chat", "chat_without_image")
    edit_json(os.path.join(d, "chat_template.json"),
              lambda v: v.update(chat_template=v["chat_template"].replace("<image>", "")))
    out.append(("chat template without the image placeholder", [d],
                "the rendered chat template holds the image placeholder \"<image>\" nowhere (expected once)"))
    d = copy("llava_llama_f16_sharded", "clip_gelu")
    edit_json(os.path.join(d, "config.json"), lambda v: v["vision_config"].update(hidden_act="gelu"))
    out.append(("CLIP hidden_act other than quick_gelu", [d], "vision hidden_act 'gelu' is not supported"))
    d = copy("llava_llama_f16_sharded", "full_strategy")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(vision_feature_select_strategy="full"))
    out.append(("vision_feature_select_strategy full", [d], "vision_feature_select_strategy 'full'"))
    d = copy("llama_mha_f32", "extra_tensor")
    corrupt_safetensors(os.path.join(d, "model.safetensors"),
                        lambda h: h.update({"model.layers.0.self_attn.q_norm.weight": {"dtype": "F32", "shape": [0],
                                                                                       "data_offsets": [0, 0]}}))
    out.append(("a tensor the architecture lacks", [d], "belongs to no part of the model"))
    d = copy("llama_mha_f32", "truncated")
    path = os.path.join(d, "model.safetensors")
    os.truncate(path, os.path.getsize(path) - 10)
    out.append(("truncated safetensors", [d], "outside the file"))
    d = copy("llama_mha_f32", "truncated_header")
    with open(os.path.join(d, "model.safetensors"), "r+b") as f:
        f.truncate(100)
    out.append(("safetensors cut inside its header", [d], "truncated safetensors file"))
    d = copy("llama_mha_f32", "offsets_outside")
    corrupt_safetensors(os.path.join(d, "model.safetensors"),
                        lambda h: h["model.norm.weight"].update(data_offsets=[10 ** 9, 10 ** 9 + 128]))
    out.append(("header offsets outside the file", [d], "lie outside the file"))

    def overlap(h):
        a, b = h["model.layers.0.input_layernorm.weight"], h["model.layers.0.post_attention_layernorm.weight"]
        b["data_offsets"] = [a["data_offsets"][0] + 4, a["data_offsets"][0] + 4 + 128]
    d = copy("llama_mha_f32", "overlap")
    corrupt_safetensors(os.path.join(d, "model.safetensors"), overlap)
    out.append(("overlapping offsets", [d], "overlap"))
    d = copy("llama_mha_f32", "bad_dtype")
    corrupt_safetensors(os.path.join(d, "model.safetensors"), lambda h: h["model.norm.weight"].update(dtype="F99"))
    out.append(("a dtype the header does not allow", [d], "'F99' is not a safetensors dtype"))
    d = copy("llama_mha_f32", "int_weights")
    corrupt_safetensors(os.path.join(d, "model.safetensors"), lambda h: h["model.norm.weight"].update(dtype="I32"))
    out.append(("integer weights", [d], "weights must be one of"))
    d = copy("llama_mha_f32", "shape_bytes")
    corrupt_safetensors(os.path.join(d, "model.safetensors"), lambda h: h["model.norm.weight"].update(shape=[33]))
    out.append(("shape x itemsize != byte length", [d], "needs 132 bytes, data_offsets give 128"))
    d = copy("llama_mha_f32", "no_tokenizer")
    os.remove(os.path.join(d, "tokenizer.model"))
    out.append(("missing tokenizer", [d], "no tokenizer"))
    d = copy("llama_mha_f32", "json_tokenizer")
    os.remove(os.path.join(d, "tokenizer.model"))
    json.dump({"model": {"type": "BPE"}}, open(os.path.join(d, "tokenizer.json"), "w"))
    out.append(("tokenizer.json without a vocabulary", [d], "the BPE model has no vocab"))
    d = copy("llama_mha_f32", "garbage_tokenizer")
    open(os.path.join(d, "tokenizer.model"), "wb").write(b"not a model at all")
    out.append(("tokenizer.model that is not sentencepiece", [d], "not a sentencepiece model"))
    src = cases["llama2c_shared"]["src"]
    short = os.path.join(bad, "short.bin")
    shutil.copy(src, short)
    os.truncate(short, os.path.getsize(short) - 4)
    tok = cases["llama2c_shared"]["args"]
    out.append(("llama2.c header inconsistent with the file size", [short] + tok, "implies"))
    out.append(("llama2.c without --tokenizer", [src], "needs --tokenizer"))
    versioned = os.path.join(bad, "version1.bin")
    with open(versioned, "wb") as f:
        f.write(struct.pack("<2i", 0x616B3432, 1) + bytes(256))
    out.append(("llama2.c export version 1", [versioned] + tok, "export version 1 is not supported"))
    junk = os.path.join(bad, "junk_tokenizer.bin")
    open(junk, "wb").write(b"\x01\x02\x03")
    out.append(("llama2.c with a non-tokenizer file", [src, "--tokenizer", junk],
                "neither a sentencepiece model nor a llama2.c tokenizer.bin"))
    out.append(("no weights in the folder", [make_weightless(bad, cases)], "no weights"))
    return out


def make_weightless(bad, cases):
    d = os.path.join(bad, "weightless")
    shutil.copytree(cases["llama_mha_f32"]["src"], d)
    os.remove(os.path.join(d, "model.safetensors"))
    return d


def check_bad_inputs(checks, work, cases):
    out_dir = os.path.join(work, "bad_out")
    os.makedirs(out_dir, exist_ok=True)
    for n, (label, args, expected) in enumerate(bad_inputs(work, cases)):
        out = os.path.join(out_dir, "model%d.pt" % n)
        proc = run_importer(args + ["--out", out])
        lines = proc.stderr.strip().splitlines()
        ok = (proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("import_checkpoint: ")
              and expected in lines[0] and not os.path.exists(out))
        checks.check("refused: " + label, ok, "exit %d: %s" % (proc.returncode, proc.stderr.strip()[:300]))
    leftovers = [f for f in os.listdir(out_dir) if f.startswith(".import-")]
    checks.check("refused inputs leave no temporary file", not leftovers, ", ".join(leftovers))
    proc = run_importer([cases["llama_mha_f32"]["src"], "--out", os.path.join(out_dir, "x.pt"), "--max-positions", "0"])
    checks.check("usage error exits 2", proc.returncode == 2, proc.stderr.strip().splitlines()[-1])
    proc = run_importer(["--help"])
    wanted = ["default: float32", "default: the checkpoint's", "default: \"{question}\"", "center_crop"]
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    checks.check("--help states the defaults", proc.returncode == 0 and all(w in text for w in wanted))


# ----------------------------------------------------------- stories260K ---
def read_llama2c_raw(path):
    """The .bin read by the test itself: Hugging Face names, llama2.c rows."""
    data = open(path, "rb").read()
    dim, hidden, layers, heads, kv, vocab, seq = struct.unpack("<7i", data[:28])
    floats = np.frombuffer(data, dtype="<f4", offset=28)
    dh = dim // heads
    w, o = {}, 0

    def take(shape):
        nonlocal o
        n = int(np.prod(shape))
        t = torch.from_numpy(floats[o:o + n].copy()).reshape(shape)
        o += n
        return t
    w["model.embed_tokens.weight"] = take((abs(vocab), dim))
    for name, shape in (("input_layernorm", (dim,)), ("self_attn.q_proj", (dim, dim)),
                        ("self_attn.k_proj", (kv * dh, dim)),
                        ("self_attn.v_proj", (kv * dh, dim)), ("self_attn.o_proj", (dim, dim)),
                        ("post_attention_layernorm", (dim,)), ("mlp.gate_proj", (hidden, dim)),
                        ("mlp.down_proj", (dim, hidden)), ("mlp.up_proj", (hidden, dim))):
        for i in range(layers):
            w["model.layers.%d.%s.weight" % (i, name)] = take(shape)
    w["model.norm.weight"] = take((dim,))
    config = dict(num_attention_heads=heads, num_key_value_heads=kv, hidden_size=dim, num_hidden_layers=layers,
                  rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=vocab > 0)
    return w, config


def check_stories(checks, work, stories, atman):
    model_bin, tok_bin = os.path.join(stories, "stories260K.bin"), os.path.join(stories, "tok512.bin")
    if not (os.path.isfile(model_bin) and os.path.isfile(tok_bin)):
        checks.check("stories260K", False, "missing %s or %s (the real pretrained model; see the issue)"
                     % (model_bin, tok_bin))
        return
    out = os.path.join(work, "out", "stories260K.pt")
    proc = run_importer([model_bin, "--tokenizer", tok_bin, "--out", out])
    checks.check("stories260K: import", proc.returncode == 0, proc.stderr.strip() or proc.stdout.strip())
    if proc.returncode:
        return
    module, config, sp = load(out)
    check_tokenizer(checks, tok_bin, sp, "stories260K")
    ids = [config["bos_id"]] + sp.encode("Once upon a time")
    with torch.no_grad():
        for _ in range(40):
            ids.append(int(module(module.embed_text(torch.tensor([ids])), torch.ones(1, len(ids)))[0, -1].argmax()))
        text = sp.decode(ids)
        weights, ref_config = read_llama2c_raw(model_bin)
        ref = ReferenceLlama(weights, ref_config, rotary="interleaved")
        emb = module.embed_text(torch.tensor([ids]))
        err = rel_err(module(emb, torch.ones(1, len(ids)))[0], ref.logits(emb[0].double(), torch.ones(len(ids))))
    checks.check("stories260K: greedy 40 tokens (Python) = llama2.c's text", text.startswith(STORIES_TEXT), repr(text))
    checks.within("stories260K: logits vs interleaved-rotary reference (%d positions)" % len(ids), err)
    if atman:
        proc = subprocess.run([atman, "answer", "--model", out, "--prompt", "Once upon a time", "--max-tokens", "40"],
                              capture_output=True, text=True)
        checks.check("stories260K: atman answer = llama2.c's text", proc.returncode == 0
                     and STORIES_TEXT[len("Once upon a time"):] in proc.stdout,
                     repr((proc.stdout + proc.stderr).strip()[:300]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--stories", default="/work/shared/models/stories260K")
    parser.add_argument("--atman", help="the atman binary, to check `atman answer` on stories260K too")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    os.makedirs(os.path.join(args.work_dir, "out"), exist_ok=True)
    checks = Checks()
    cases = make_cases(args.work_dir)
    check_tokenizer(checks, os.path.join(args.work_dir, "src", "tokenizer.bin"),
                    load_converted(os.path.join(args.work_dir, "src", "tokenizer.bin")), "small tokenizer.bin")
    image_path = os.path.join(args.work_dir, "image.png")
    import cv2
    cv2.imwrite(image_path, np.random.default_rng(3).integers(0, 255, (20, 24, 3), dtype=np.uint8))
    for name, case in cases.items():
        check_case(checks, name, case, args.work_dir, image_path)
    check_bfloat16(checks, "llama_gqa_tied_bias_bf16_sharded", cases["llama_gqa_tied_bias_bf16_sharded"], args.work_dir)
    check_options(checks, cases, args.work_dir)
    if args.atman:
        for name in ("llama_mha_f32", "llama_gqa_tied_bias_bf16_sharded", "mistral_window3_headdim"):
            check_cpp_explain(checks, args.atman, name, cases[name], args.work_dir)
    check_bad_inputs(checks, args.work_dir, cases)
    check_stories(checks, args.work_dir, args.stories, args.atman)
    print("%d checks, %d failed, %.0f s" % (checks.count, len(checks.failed), time.time() - started))
    for name in checks.failed:
        print("FAILED: " + name)
    return 1 if checks.failed else 0


def load_converted(path):
    from torchscript_models.importers.llama2c_tokenizer import convert_llama2c_tokenizer
    return spm.SentencePieceProcessor(model_proto=convert_llama2c_tokenizer(path))


if __name__ == "__main__":
    sys.exit(main())
