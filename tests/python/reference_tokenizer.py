#!/usr/bin/python3
"""An independent Python encoder for the tokenizer.json files the tests
write (tests/python/make_hf_tokenizers.py), written from Hugging Face
`tokenizers`' documented semantics for the components they use: added
tokens matched first (leftmost, longest), normalizers NFC / Prepend /
Replace / Sequence, pre-tokenizers Split (Isolated) / ByteLevel (GPT-2's
byte-to-unicode table, with or without GPT-2's pattern) / Sequence, and the
BPE model (merge ranks, lowest first and leftmost; ignore_merges;
byte_fallback to <0xNN>; unk_token). It shares no code with the importer or
the C++ tokenizer.

Python's `re` has no \\p{L}/\\p{N}: the three Split patterns the tests use
(Llama-3's, Qwen2's and GPT-2's) are rewritten with \\w-based classes that
agree with them on the tests' texts (Latin letters, digits, punctuation,
whitespace, accents); other patterns are refused.

Usage: tok = ReferenceTokenizer(json_text); tok.encode("text") -> ids;
       tok.IdToPiece(i), tok.IsControl(i), tok.IsUnknown(i) (the sentencepiece
       calls reference_atman.py makes)"""
import json
import re
import unicodedata

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

LETTERS = r"[^\W\d_]"           # \p{L} on the tests' texts
NOT_CRLF_L_N = r"(?:[^\r\n\w]|_)"  # [^\r\n\p{L}\p{N}]
NOT_S_L_N = r"(?:[^\s\w]|_)"      # [^\s\p{L}\p{N}]
PYTHON_PATTERNS = {
    LLAMA3_PATTERN: r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|%s?%s+|\d{1,3}| ?%s+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
                    % (NOT_CRLF_L_N, LETTERS, NOT_S_L_N),
    QWEN2_PATTERN: r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|%s?%s+|\d| ?%s+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
                   % (NOT_CRLF_L_N, LETTERS, NOT_S_L_N),
    GPT2_PATTERN: r"'s|'t|'re|'ve|'m|'ll|'d| ?%s+| ?\d+| ?%s+|\s+(?!\S)|\s+" % (LETTERS, NOT_S_L_N),
}


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the
    others (0-32, 127-160, 173) take the characters from U+0100 on, in order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHAR = bytes_to_unicode()


def split_isolated(pieces, pattern):
    """Split with behavior Isolated: every match and every gap between matches is a piece."""
    compiled = re.compile(PYTHON_PATTERNS[pattern])
    out = []
    for piece in pieces:
        pos = 0
        for m in compiled.finditer(piece):
            if m.start() > pos:
                out.append(piece[pos:m.start()])
            if m.end() > m.start():
                out.append(m.group())
            pos = m.end()
        if pos < len(piece):
            out.append(piece[pos:])
    return out


class ReferenceTokenizer:
    def __init__(self, text):
        spec = json.loads(text)
        self.spec = spec
        model = spec["model"]
        if model["type"] != "BPE":
            raise ValueError("the reference reads BPE tokenizers only, got %r" % model["type"])
        self.vocab = model["vocab"]
        merges = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
        self.ranks = {(a, b): r for r, (a, b) in enumerate(merges)}
        self.ignore_merges = model.get("ignore_merges", False)
        self.byte_fallback = model.get("byte_fallback", False)
        self.unk = model.get("unk_token")
        self.added = {t["content"]: t for t in spec.get("added_tokens", [])}
        self.pieces = {i: p for p, i in self.vocab.items()}
        self.pieces.update({t["id"]: c for c, t in self.added.items()})

    # -- the sentencepiece calls of reference_atman.py
    def IdToPiece(self, i):
        return self.pieces[i]

    def IsControl(self, i):
        return any(t["id"] == i and t.get("special") for t in self.added.values())

    def IsUnknown(self, i):
        return self.unk is not None and self.vocab.get(self.unk) == i

    # -- encoding
    def encode(self, text):
        ids = []
        for segment, token in self.split_added(text):
            if token is not None:
                ids.append(token["id"])
            else:
                for word in self.pre_tokenize(self.normalize(segment)):
                    ids += self.bpe(word)
        return ids

    def split_added(self, text):
        """[(text, None) | (content, token)]: leftmost, then longest added token."""
        out, pos, start = [], 0, 0
        contents = sorted(self.added, key=len, reverse=True)
        while pos < len(text):
            hit = next((c for c in contents if text.startswith(c, pos)), None)
            if hit is None:
                pos += 1
                continue
            if pos > start:
                out.append((text[start:pos], None))
            out.append((hit, self.added[hit]))
            pos += len(hit)
            start = pos
        if start < len(text):
            out.append((text[start:], None))
        return out

    def normalize(self, text, spec=None):
        spec = self.spec.get("normalizer") if spec is None else spec
        if not spec:
            return text
        kind = spec["type"]
        if kind == "Sequence":
            for item in spec["normalizers"]:
                text = self.normalize(text, item)
            return text
        if kind == "NFC":
            return unicodedata.normalize("NFC", text)
        if kind == "Prepend":
            return spec["prepend"] + text if text else text
        if kind == "Replace":
            return text.replace(spec["pattern"]["String"], spec["content"])
        raise ValueError("reference_tokenizer: normalizer %s" % kind)

    def pre_tokenize(self, text, spec=None, pieces=None):
        spec = self.spec.get("pre_tokenizer") if spec is None else spec
        pieces = [text] if pieces is None else pieces
        if not spec:
            return [p for p in pieces if p]
        kind = spec["type"]
        if kind == "Sequence":
            for item in spec["pretokenizers"]:
                pieces = self.pre_tokenize(None, item, pieces)
            return pieces
        if kind == "Split":
            if spec["behavior"] != "Isolated" or spec.get("invert"):
                raise ValueError("the reference splits Isolated, not inverted, only: %r" % spec)
            return split_isolated(pieces, spec["pattern"]["Regex"])
        if kind == "ByteLevel":
            if spec.get("add_prefix_space") and pieces and not pieces[0].startswith(" "):
                pieces = [" " + pieces[0]] + pieces[1:]
            if spec.get("use_regex", True):
                pieces = split_isolated(pieces, GPT2_PATTERN)
            return ["".join(BYTE_CHAR[b] for b in p.encode("utf-8")) for p in pieces if p]
        raise ValueError("reference_tokenizer: pre-tokenizer %s" % kind)

    def bpe(self, word):
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        symbols = list(word)
        while len(symbols) > 1:
            best = None
            for i in range(len(symbols) - 1):
                rank = self.ranks.get((symbols[i], symbols[i + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None:
                break
            i = best[1]
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        ids = []
        for s in symbols:
            if s in self.vocab:
                ids.append(self.vocab[s])
            elif self.byte_fallback:
                ids += [self.vocab["<0x%02X>" % b] for b in s.encode("utf-8")]
            else:
                ids.append(self.vocab[self.unk])
        return ids
