"""The text side of an import (docs/importing.md#tokenizers): which tokenizer
a folder's model uses, checked, as the bytes the model file carries.

Three sources, in this order:
  tokenizer.model              a sentencepiece model (LLaMA-1/2, Mistral, TinyLlama, LLaVA):
                               carried as atman/tokenizer.model, as before
  tokenizer.json               Hugging Face's tokenizer (Llama-3, Qwen2, SmolLM2, any folder
                               without tokenizer.model): carried verbatim as atman/tokenizer.json
  vocab.json + merges.txt      GPT-2's files: the equivalent tokenizer.json is written (ByteLevel
                               pre-tokenizer and decoder, BPE with those merges, the added tokens of
                               added_tokens.json, special_tokens_map.json and tokenizer_config.json)
--tokenizer PATH picks one file instead (a .json is a tokenizer.json).

A tokenizer.json is checked at import, so that the C++ side never meets a
model it cannot read: the model must be BPE (WordPiece, Unigram and WordLevel
are refused naming the type), every component must be one the C++ tokenizer
implements, every merge must name two pieces of the vocabulary whose join is
one too, and every id must fit the model's vocab_size.

Usage: tok = find_tokenizer(folder_path, tokenizer_config, special_tokens_map, override=None)
       tok.kind ("sentencepiece" | "json"), tok.data (bytes), tok.size, tok.token_id(text),
       tok.post_processor_bos() -> (id, text) or None, tok.check_fits(vocab_size, where)"""
import json
import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

from .errors import CheckpointError

if TYPE_CHECKING:
    import sentencepiece as spm

# The components the C++ tokenizer implements (docs/tokenizers.md#what-tokenizerjson-may-hold).
SUPPORTED = {
    "normalizer": ("NFC", "Replace", "Prepend", "Sequence"),
    "pre_tokenizer": ("Split", "ByteLevel", "Metaspace", "Sequence"),
    # The post-processor is read here only, for the BOS decision (docs/importing.md#bos-and-chat-templates).
    "post_processor": ("TemplateProcessing", "ByteLevel", "Sequence"),
    "decoder": ("ByteLevel", "Replace", "ByteFallback", "Fuse", "Strip", "Metaspace", "Sequence"),
}
# The list key of each Sequence.
SEQUENCE_KEY = {"normalizer": "normalizers", "pre_tokenizer": "pretokenizers", "post_processor": "processors",
                "decoder": "decoders"}
SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def json_text(value):
    return json.dumps(value, ensure_ascii=False)


def token_text(value):
    """A special token as tokenizer_config.json / special_tokens_map.json give
    it: a string, or an AddedToken dict with "content"; None when absent."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) and value else None


def special_tokens(tokenizer_config, special_tokens_map):
    """{"bos_token": "<s>", ...} of the tokens that are set (tokenizer_config.json first)."""
    out = {}
    for name in SPECIAL_NAMES:
        text = token_text(tokenizer_config.get(name))
        if text is None and name not in tokenizer_config:
            text = token_text(special_tokens_map.get(name))
        if text is not None:
            out[name] = text
    return out


def read_text(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CheckpointError("%s: cannot read: %s" % (path, e.strerror)) from e


class SentencepieceTokenizer:
    kind = "sentencepiece"
    extra_file = "atman/tokenizer.model"

    def __init__(self, data: bytes, path: str):
        self.data, self.path = data, path
        self.processor = check_sentencepiece(data, path)
        self.size = self.processor.get_piece_size()

    def token_id(self, text):
        i = self.processor.piece_to_id(text)
        return i if text and self.processor.id_to_piece(i) == text else None

    def default_bos(self):
        i = self.processor.bos_id()
        return i if i >= 0 else None

    def default_eos(self):
        i = self.processor.eos_id()
        return i if i >= 0 else None

    def control_texts(self):
        """Texts that sentencepiece never produces from text (control pieces
        such as <s> and </s>): a template holding one would be encoded wrong."""
        return [self.processor.id_to_piece(i) for i in range(self.size) if self.processor.is_control(i)]

    def post_processor_bos(self):
        return None

    def check_fits(self, vocab_size, where):
        if self.size > vocab_size:
            raise CheckpointError("%s: the tokenizer has %d pieces, more than the model's vocab_size %d"
                                  % (where, self.size, vocab_size))

    def describe(self):
        return "sentencepiece %s (%d pieces)" % (os.path.basename(self.path), self.size)


def check_sentencepiece(data: bytes, path: str) -> "spm.SentencePieceProcessor":
    """The bytes must load as a sentencepiece model."""
    import sentencepiece as spm
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(data)
    except (RuntimeError, OSError, TypeError) as e:
        raise CheckpointError("%s: not a sentencepiece model" % path) from e
    return processor


class JsonTokenizer:
    """A Hugging Face tokenizer.json, checked; `data` is the text the model carries."""
    kind = "json"
    extra_file = "atman/tokenizer.json"

    def __init__(self, data: bytes, path: str, source: Optional[str] = None):
        self.data, self.path = data, path
        self.source = source or os.path.basename(path)
        try:
            spec = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckpointError("%s: not valid JSON: %s" % (path, e)) from e
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
            raise CheckpointError("%s: not a tokenizer.json (no \"model\" object)" % path)
        self.spec = spec
        model = spec["model"]
        kind = model.get("type", "BPE" if "merges" in model else None)
        if kind != "BPE":
            raise CheckpointError("%s: tokenizer model type %s is not supported (supported: BPE)"
                                  % (path, json_text(kind)))
        for component in SUPPORTED:
            self._check_component(component, spec.get(component))
        if model.get("dropout") not in (None, 0, 0.0):
            raise CheckpointError("%s: BPE dropout %s is not supported (tokenization must be deterministic)"
                                  % (path, json_text(model.get("dropout"))))
        vocab = model.get("vocab")
        if not isinstance(vocab, dict) or not vocab:
            raise CheckpointError("%s: the BPE model has no vocab" % path)
        for piece, i in vocab.items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise CheckpointError("%s: vocab entry %s has id %s, expected an integer >= 0"
                                      % (path, json_text(piece), json_text(i)))
        self.vocab = vocab
        self._check_merges(model.get("merges", []), model.get("continuing_subword_prefix") or "")
        self.added = {}
        for n, token in enumerate(spec.get("added_tokens") or []):
            if not isinstance(token, dict) or not isinstance(token.get("content"), str) or not token["content"] \
                    or isinstance(token.get("id"), bool) or not isinstance(token.get("id"), int) or token["id"] < 0:
                raise CheckpointError("%s: added_tokens[%d] needs a non-empty content and an id >= 0, got %s"
                                      % (path, n, json_text(token)[:200]))
            self.added[token["content"]] = token
        unk = model.get("unk_token")
        if unk is not None and unk not in vocab and unk not in self.added:
            raise CheckpointError("%s: unk_token %s is not in the vocabulary" % (path, json_text(unk)))
        ids = list(vocab.values()) + [t["id"] for t in self.added.values()]
        self.size = max(ids) + 1

    def _check_component(self, component, value):
        if value is None:
            return
        kind = value.get("type") if isinstance(value, dict) else None
        if kind not in SUPPORTED[component]:
            raise CheckpointError("%s: %s %s is not supported (supported: %s)"
                                  % (self.path, component, json_text(kind), ", ".join(SUPPORTED[component])))
        if kind == "Sequence":
            for item in value.get(SEQUENCE_KEY[component]) or []:
                self._check_component(component, item)

    def _check_merges(self, merges, prefix):
        if not isinstance(merges, list):
            raise CheckpointError("%s: BPE merges must be a list" % self.path)
        for rank, merge in enumerate(merges):
            if isinstance(merge, str):
                parts = merge.split(" ")
            elif isinstance(merge, list) and all(isinstance(p, str) for p in merge):
                parts = merge
            else:
                parts = None
            if parts is None or len(parts) != 2:
                raise CheckpointError("%s: merges[%d] %s is not a pair of pieces" % (self.path, rank,
                                                                                   json_text(merge)))
            a, b = parts
            joined = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
            for piece in (a, b, joined):
                if piece not in self.vocab:
                    raise CheckpointError("%s: merges[%d] %s names %s, which is not in the vocabulary"
                                          % (self.path, rank, json_text(merge), json_text(piece)))

    def token_id(self, text):
        if text in self.added:
            return self.added[text]["id"]
        return self.vocab.get(text)

    def default_bos(self):
        return None

    def default_eos(self):
        return None

    def control_texts(self):
        return []

    def post_processor_bos(self):
        """(id, text) of the special token the post-processor puts before a
        single sequence (TemplateProcessing whose `single` starts with a
        SpecialToken, e.g. Llama-3's <|begin_of_text|>); None when it adds
        none (ByteLevel, no post-processor: GPT-2, Qwen2, SmolLM2). Tokens
        it appends after the text are not used: a prompt ends before its
        answer."""
        processor = self.spec.get("post_processor")
        stack = [processor] if processor else []
        while stack:
            p = stack.pop(0)
            if p.get("type") == "Sequence":
                stack = list(p.get("processors") or []) + stack
            elif p.get("type") == "TemplateProcessing":
                single = p.get("single") or []
                first = single[0] if single else {}
                if isinstance(first, dict) and "SpecialToken" in first:
                    name = first["SpecialToken"].get("id")
                    entry = (p.get("special_tokens") or {}).get(name) or {}
                    ids = entry.get("ids") or [self.token_id(name)]
                    if not ids or ids[0] is None:
                        raise CheckpointError("%s: the post-processor's token %s has no id"
                                              % (self.path, json_text(name)))
                    return ids[0], name
                return None
        return None

    def check_fits(self, vocab_size, where):
        if self.size > vocab_size:
            raise CheckpointError("%s: %s has ids up to %d, more than the model's vocab_size %d"
                                  % (where, self.source, self.size - 1, vocab_size))

    def describe(self):
        return "%s (BPE, %d ids)" % (self.source, self.size)


def added_token(content, i, special, flags=None):
    flags = flags or {}
    return {"id": i, "content": content, "single_word": bool(flags.get("single_word", False)),
            "lstrip": bool(flags.get("lstrip", False)), "rstrip": bool(flags.get("rstrip", False)),
            "normalized": bool(flags.get("normalized", not special)), "special": bool(special)}


def gpt2_tokenizer_json(folder: str, tokenizer_config: Dict[str, Any], special_tokens_map: Dict[str, Any]) -> bytes:
    """tokenizer.json text equivalent to GPT-2's vocab.json + merges.txt (the
    conversion transformers does for GPT2TokenizerFast): ByteLevel
    pre-tokenizer (GPT-2's pattern, add_prefix_space from tokenizer_config,
    default false), BPE with the merges in file order, ByteLevel
    post-processor (no BOS) and decoder. Added tokens: added_tokens.json
    ({text: id}), tokenizer_config.json's added_tokens_decoder ({id: token}),
    and the special tokens of special_tokens_map.json (their vocab id, else
    the next free id)."""
    vocab_path, merges_path = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    try:
        vocab = json.loads(read_text(vocab_path).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError("%s: not valid JSON: %s" % (vocab_path, e)) from e
    if not isinstance(vocab, dict):
        raise CheckpointError("%s: expected an object {piece: id}" % vocab_path)
    merges = []
    for n, line in enumerate(read_text(merges_path).decode("utf-8").split("\n")):
        line = line.rstrip("\r")
        if not line or (n == 0 and line.startswith("#version")):
            continue
        merges.append(line)
    added = {}
    added_path = os.path.join(folder, "added_tokens.json")
    if os.path.isfile(added_path):
        try:
            entries = json.loads(read_text(added_path).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckpointError("%s: not valid JSON: %s" % (added_path, e)) from e
        for content, i in (entries.items() if isinstance(entries, dict) else []):
            added[content] = added_token(content, i, False)
    for key, flags in (tokenizer_config.get("added_tokens_decoder") or {}).items():
        if isinstance(flags, dict) and isinstance(flags.get("content"), str) and key.isdigit():
            added[flags["content"]] = added_token(flags["content"], int(key), flags.get("special", False), flags)
    specials = list(special_tokens(tokenizer_config, special_tokens_map).values())
    extra = special_tokens_map.get("additional_special_tokens") or tokenizer_config.get(
        "additional_special_tokens") or []
    specials += [t for t in map(token_text, extra) if t]
    next_id = max(list(vocab.values()) + [t["id"] for t in added.values()] + [-1]) + 1
    for text in specials:
        if text in added:
            added[text]["special"] = True
            continue
        if text in vocab:
            added[text] = added_token(text, vocab[text], True)
        else:
            added[text] = added_token(text, next_id, True)
            next_id += 1
    prefix_space = bool(tokenizer_config.get("add_prefix_space", False))
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": sorted(added.values(), key=lambda t: t["id"]),
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": prefix_space, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    return json.dumps(spec, ensure_ascii=False, indent=1).encode("utf-8")


def find_tokenizer(folder: str, tokenizer_config: Dict[str, Any], special_tokens_map: Dict[str, Any],
                   override: Optional[str] = None) -> Union["SentencepieceTokenizer", "JsonTokenizer"]:
    """The folder's tokenizer by the order of the module docstring (or `override`)."""
    if override:
        if not os.path.isfile(override):
            raise CheckpointError("%s: no such tokenizer file" % override)
        if override.endswith(".json"):
            return JsonTokenizer(read_text(override), override)
        return SentencepieceTokenizer(read_text(override), override)
    model = os.path.join(folder, "tokenizer.model")
    if os.path.isfile(model):
        return SentencepieceTokenizer(read_text(model), model)
    tokenizer_json = os.path.join(folder, "tokenizer.json")
    if os.path.isfile(tokenizer_json):
        return JsonTokenizer(read_text(tokenizer_json), tokenizer_json)
    vocab, merges = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    if os.path.isfile(vocab) and os.path.isfile(merges):
        return JsonTokenizer(gpt2_tokenizer_json(folder, tokenizer_config, special_tokens_map),
                             os.path.join(folder, "vocab.json + merges.txt"), "vocab.json + merges.txt")
    if os.path.isfile(vocab):
        raise CheckpointError("%s: vocab.json without merges.txt (GPT-2's BPE needs both; or pass --tokenizer)"
                              % folder)
    raise CheckpointError("%s: no tokenizer: expected tokenizer.model (sentencepiece), tokenizer.json, or "
                          "vocab.json with merges.txt (or pass --tokenizer)" % folder)
