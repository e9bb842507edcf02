#!/usr/bin/python3
"""Small tokenizers in today's Hugging Face layouts, built here for the
importer's tests (merges learned on a short text, so that they are valid
for Hugging Face's semantics: every merge joins two vocabulary pieces into a
third), each with the tokenizer_config.json and chat template of its family:

  llama3     byte-level BPE: Split with Llama-3's pattern, ByteLevel without
             regex, ignore_merges, TemplateProcessing <|begin_of_text|> $A,
             Llama-3-Instruct's chat template (starts with bos_token)
  qwen2      byte-level BPE: NFC normalizer, Split with Qwen2's pattern,
             ByteLevel post-processor (no BOS), Qwen2's ChatML template with
             its default system message
  fallback   byte-fallback BPE (Llama-2/Gemma style): Prepend + Replace
             normalizer, <0xNN> pieces, <unk> <s> </s>, TemplateProcessing
             <s> $A, the Replace/ByteFallback/Fuse/Strip decoder; no template
  gpt2       GPT-2's files vocab.json + merges.txt (no tokenizer.json) with
             special_tokens_map.json and a SmolLM2-style ChatML template whose
             bos_token is <|im_start|>

For the importer's measurements, large_tokenizer(kind, pieces) builds a
full-size byte-level tokenizer of the same family (Llama-3: 128000 pieces +
256 special tokens; Qwen2: 151643 + 22) whose merges each add one byte to a
short piece (valid, not learned).

Usage: files = make_tokenizer("llama3")   # {file name: text}; files["tokenizer.json"] etc.
       write_tokenizer(folder, "qwen2")   # writes them into a model folder; returns the size (ids)
       files = large_tokenizer("llama3", 128000)"""
import collections
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
from tests.python.reference_tokenizer import (  # noqa: E402
    BYTE_CHAR, GPT2_PATTERN, LLAMA3_PATTERN, QWEN2_PATTERN, split_isolated)

CORPUS = ("the cat and the cat saw the dog near the old red house on the hill. "
          "What color is the circle? The circle is red. Where does Alice live? Alice lives in Paris. "
          "Bob likes tea and works as a baker. Once upon a time there was a little girl named Lily. "
          "She loved to play outside in the park with her dog, 12 times a day! It's the cat's toy; we're "
          "sure they'll say I'd do it. Zoë went to the café.\n\nThen the answer was: yes.\n")

LLAMA3_TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                   "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                   "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                   "{{ content }}{% endfor %}{% if add_generation_prompt %}"
                   "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
QWEN2_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                  "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
                  "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
                  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SMOL_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                 "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                 "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                 "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                 "{% endif %}")


def learn_merges(words, base, count):
    """Up to `count` BPE merges over `words` (lists of symbols), most frequent
    pair first (ties: the pair seen first); returns (merges, new pieces)."""
    words = [list(w) for w in words]
    merges, pieces = [], []
    known = set(base)
    for _ in range(count):
        pairs = collections.Counter()
        for w in words:
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += 1
        if not pairs:
            break
        (a, b), n = max(pairs.items(), key=lambda kv: kv[1])
        if n < 2:
            break
        merges.append((a, b))
        if a + b not in known:
            known.add(a + b)
            pieces.append(a + b)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    return merges, pieces


def byte_level_words(pattern):
    return ["".join(BYTE_CHAR[b] for b in p.encode("utf-8")) for p in split_isolated([CORPUS], pattern)]


def added(content, i, special=True):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def byte_level_vocab(pattern, merges_count):
    base = [BYTE_CHAR[b] for b in range(256)]
    merges, pieces = learn_merges(byte_level_words(pattern), base, merges_count)
    vocab = {p: i for i, p in enumerate(base + pieces)}
    return vocab, merges


def split(pattern):
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}


def byte_level(**over):
    return dict({"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}, **over)


def bpe(vocab, merges, **over):
    return dict({"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                 "vocab": vocab, "merges": [list(m) for m in merges]}, **over)


def make_tokenizer(kind):
    """{file name: text} of one tokenizer's files."""
    if kind == "llama3":
        vocab, merges = byte_level_vocab(LLAMA3_PATTERN, 220)
        n = len(vocab)
        names = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
        spec = {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [added(c, n + k) for k, c in enumerate(names)],
                "normalizer": None,
                "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                    split(LLAMA3_PATTERN), byte_level(use_regex=False)]},
                "post_processor": {"type": "Sequence", "processors": [
                    byte_level(trim_offsets=False),
                    {"type": "TemplateProcessing",
                     "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                {"Sequence": {"id": "A", "type_id": 0}}],
                     "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                              {"Sequence": {"id": "A", "type_id": 0}},
                              {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                              {"Sequence": {"id": "B", "type_id": 1}}],
                     "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n],
                                                              "tokens": ["<|begin_of_text|>"]}}}]},
                "decoder": byte_level(),
                "model": bpe(vocab, merges, ignore_merges=True)}
        config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_TEMPLATE,
                  "model_max_length": 131072, "tokenizer_class": "PreTrainedTokenizerFast"}
        return {"tokenizer.json": json.dumps(spec, ensure_ascii=False), "tokenizer_config.json": json.dumps(config)}
    if kind == "qwen2":
        vocab, merges = byte_level_vocab(QWEN2_PATTERN, 200)
        n = len(vocab)
        names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        spec = {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [added(c, n + k) for k, c in enumerate(names)],
                "normalizer": {"type": "NFC"},
                "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                    split(QWEN2_PATTERN), byte_level(use_regex=False, trim_offsets=False)]},
                "post_processor": byte_level(trim_offsets=False),
                "decoder": byte_level(trim_offsets=False),
                "model": bpe(vocab, merges, continuing_subword_prefix="", end_of_word_suffix="")}
        config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "add_prefix_space": False,
                  "chat_template": QWEN2_TEMPLATE, "tokenizer_class": "Qwen2Tokenizer", "errors": "replace"}
        return {"tokenizer.json": json.dumps(spec, ensure_ascii=False), "tokenizer_config.json": json.dumps(config)}
    if kind == "fallback":
        specials = ["<unk>", "<s>", "</s>"]
        byte_pieces = ["<0x%02X>" % b for b in range(256)]
        text = "\u2581" + CORPUS.replace(" ", "\u2581")
        chars = sorted({c for c in text if c.isascii() and c not in "\n"} | {"\u2581"})
        base = specials + byte_pieces + chars
        merges, pieces = learn_merges([w for w in text.split("\n") if w], base, 180)
        vocab = {p: i for i, p in enumerate(base + pieces)}
        spec = {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": [dict(added(c, k), normalized=False) for k, c in enumerate(specials)],
                "normalizer": {"type": "Sequence", "normalizers": [
                    {"type": "Prepend", "prepend": "\u2581"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
                "pre_tokenizer": None,
                "post_processor": {"type": "TemplateProcessing",
                                   "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                              {"Sequence": {"id": "A", "type_id": 0}}],
                                   "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                            {"Sequence": {"id": "A", "type_id": 0}},
                                            {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                            {"Sequence": {"id": "B", "type_id": 1}}],
                                   "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
                "decoder": {"type": "Sequence", "decoders": [
                    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                    {"type": "ByteFallback"}, {"type": "Fuse"},
                    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
                "model": bpe(vocab, merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)}
        config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
                  "add_eos_token": False, "tokenizer_class": "LlamaTokenizer"}
        return {"tokenizer.json": json.dumps(spec, ensure_ascii=False), "tokenizer_config.json": json.dumps(config)}
    if kind == "gpt2":
        vocab, merges = byte_level_vocab(GPT2_PATTERN, 200)
        n = len(vocab)
        vocab["<|endoftext|>"] = n  # GPT-2 keeps its one special token in vocab.json
        merges_txt = "#version: 0.2\n" + "".join("%s %s\n" % m for m in merges)
        special_map = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                       "pad_token": "<|im_end|>", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}
        config = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "chat_template": SMOL_TEMPLATE,
                  "add_prefix_space": False, "tokenizer_class": "GPT2Tokenizer",
                  "added_tokens_decoder": {str(n): {"content": "<|endoftext|>", "lstrip": False, "normalized": False,
                                                    "rstrip": False, "single_word": False, "special": True}}}
        return {"vocab.json": json.dumps(vocab, ensure_ascii=False), "merges.txt": merges_txt,
                "special_tokens_map.json": json.dumps(special_map), "tokenizer_config.json": json.dumps(config),
                "added_tokens.json": json.dumps({"<|im_start|>": n + 1, "<|im_end|>": n + 2})}
    raise ValueError(kind)


def large_tokenizer(kind, pieces, seed=0):
    """{file name: text}: make_tokenizer(kind)'s files with `pieces` BPE
    pieces (256 bytes, then merges piece + byte) and the family's count of
    special tokens after them (llama3: 256 <|...|> tokens, the first five
    named as Llama-3's; qwen2: 22, the first three Qwen2's)."""
    import random
    rng = random.Random(seed)
    files = make_tokenizer(kind)
    spec = json.loads(files["tokenizer.json"])
    base = [BYTE_CHAR[b] for b in range(256)]
    vocab = {p: i for i, p in enumerate(base)}
    short, merges = list(base), []
    while len(vocab) < pieces:
        a, b = rng.choice(short), rng.choice(base)
        if a + b in vocab:
            continue
        vocab[a + b] = len(vocab)
        merges.append([a, b])
        if len(a) < 6:
            short.append(a + b)
    named = [t["content"] for t in spec["added_tokens"]]
    count = 256 if kind == "llama3" else 22
    names = named + ["<|reserved_special_token_%d|>" % k for k in range(count - len(named))]
    spec["added_tokens"] = [added(c, pieces + k) for k, c in enumerate(names)]
    spec["model"]["vocab"], spec["model"]["merges"] = vocab, merges
    for processor in (spec.get("post_processor") or {}).get("processors", []):
        if processor["type"] == "TemplateProcessing":
            processor["special_tokens"]["<|begin_of_text|>"]["ids"] = [pieces]
    files["tokenizer.json"] = json.dumps(spec, ensure_ascii=False)
    return files


def write_tokenizer(folder, kind):
    """Writes the files into `folder` (replacing tokenizer.model); returns the ids' count."""
    files = make_tokenizer(kind)
    model = os.path.join(folder, "tokenizer.model")
    if os.path.exists(model):
        os.remove(model)
    for name, text in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
    if "tokenizer.json" in files:
        spec = json.loads(files["tokenizer.json"])
        return max([t["id"] for t in spec["added_tokens"]] + list(spec["model"]["vocab"].values())) + 1
    return len(json.loads(files["vocab.json"])) + len(json.loads(files["added_tokens.json"]))


if __name__ == "__main__":
    for k in ("llama3", "qwen2", "fallback", "gpt2"):
        f = make_tokenizer(k)
        print(k, {name: len(text) for name, text in f.items()})
