#!/usr/bin/env python3
"""Writes strings.json: the test strings that tokenizer_agreement_test.cpp
tokenizes with atman's tokenizer.json backend and with Hugging Face's
JavaScript tokenizers (reference.cjs). Deterministic; rerun after editing.

Usage: python3 tests/tokenizers/make_strings.py > tests/tokenizers/strings.json
"""
import json
import unicodedata

s = []
add = s.append

# The empty string, whitespace runs and newlines.
for t in ["", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "  \n\n  ", "\t\t x", "a\n\nb", "a \n b",
          "a  b", "a   b", "a    b", " a", "  a", "a ", "a  ", "\u00a0x", "x\u3000y", "line1\nline2\r\nline3\rline4",
          " \t \n \r ", "end with spaces   ", "   start with spaces", "\n\n\n\n\n", "\t\n\t\n", "    code indented"]:
    add(t)
# Digits of many lengths, with and without separators.
for n in range(1, 16):
    add("".join(str((k * 7 + 3) % 10) for k in range(n)))
for t in ["1,234,567", "3.14159", "-42", "+1 (555) 123-4567", "2024-12-07", "v1.2.3", "0x1F", "1e-9", "100%",
          "$19.99", "12:30:45", "a1b2c3", "１２３", "٣٤٥", "१२३", "Ⅻ", "½", "²³"]:
    add(t)
# Contractions in any case.
for t in ["don't", "DON'T", "Don'T", "we'Ll", "we'll", "WE'LL", "I'm", "I'M", "you're", "YOU'RE", "they've",
          "THEY'VE", "it's", "IT'S", "he'd", "HE'D", "can't", "'s", "'S", "''", "rock 'n' roll", "o'clock",
          "it’s (curly)", "l'homme", "'tis"]:
    add(t)
# Words and sentences.
for t in ["Hello", "Hello world", "Hello, world!", "What color is the circle?", " red", "red", " the", "The",
          "The quick brown fox jumps over the lazy dog.", "ALL CAPS SENTENCE HERE", "mIxEd CaSe",
          "supercalifragilisticexpialidocious", "antidisestablishmentarianism", "hyphen-ated words", "snake_case_name",
          "camelCaseName", "PascalCaseName", "e-mail: someone@example.com", "https://example.com/path?q=1&x=2#frag",
          "C:\\Users\\name\\file.txt", "/usr/local/bin", "Mr. Smith went to Washington.", "U.S.A.", "etc...",
          "Wait... what?!", "(parentheses) [brackets] {braces} <angles>", "\"double\" 'single' `back`",
          "semi;colon:colon", "a|b|c", "~tilde^caret", "#hashtag @mention", "***bold*** __under__",
          "naïve café résumé", "Zürich Straße", "øre Ål", "Ångström", "fiancée", "coöperate"]:
    add(t)
# Accents and combining marks, NFC and NFD.
for t in ["é", "café", "Ångström", "ñandú", "Việt Nam", "crème brûlée", "Ὀδυσσεύς", "ǅ", "ḱṷṓn", "Å", "Ω", "ﬁ",
          "한국어", "가나다"]:
    add(unicodedata.normalize("NFC", t))
    add(unicodedata.normalize("NFD", t))
for t in ["e\u0301\u0301", "a\u0308\u0301", "x\u0323\u0307", "\u0301 leading mark", "q\u0307\u0323", "\u1100\u1161\u11a8",
          "\u0b47\u0b3e", "Z\u0335\u0327\u0361a\u0336\u0315l\u0337g\u0334o\u0338"]:
    add(t)
# CJK, Japanese, Korean, Arabic, Hebrew, Devanagari, Thai, Cyrillic, Greek.
for t in ["你好，世界！", "我爱自然语言处理。", "北京是中国的首都", "日本語のテキストです。", "ひらがな カタカナ 漢字",
          "東京タワーは333メートルです", "안녕하세요 세계", "한국어 문장입니다.", "مرحبا بالعالم", "اللغة العربية جميلة",
          "ٱلسَّلَامُ عَلَيْكُمْ", "שלום עולם", "नमस्ते दुनिया", "हिन्दी भाषा", "क्षत्रिय", "สวัสดีชาวโลก", "Привет, мир!",
          "ЗДРАВСТВУЙТЕ", "Γειά σου Κόσμε", "Ελληνικά", "Tiếng Việt có dấu", "Türkçe ğüşöçı İ", "Ελληνικά and English mixed",
          "中文English混合text", "日本語とEnglish", "ⅠⅡⅢ", "ｆｕｌｌｗｉｄｔｈ", "ﾊﾝｶｸ"]:
    add(t)
# Emoji: single, skin tones, ZWJ sequences, flags, keycaps.
for t in ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪🇫🇷🇯🇵", "1️⃣", "❤️", "I ❤️ NY", "🤖 robots 🤖", "🧑🏿‍🚀", "👩‍💻 coding",
          "😀😃😄😁😆", "🦄🌈✨", "🇺🇸 flag", "©®™", "♠♥♦♣", "→←↑↓", "∑∫√∞≠≤", "°C ±5", "€£¥₹"]:
    add(t)
# Code.
for t in ["def f(x):\n    return x * 2\n", "int main() { return 0; }", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
          "if x == 1:\n        pass", "const f = (a, b) => a + b;", "SELECT * FROM users WHERE id = 42;",
          "<div class=\"x\">text</div>", "{\"key\": [1, 2, 3], \"null\": null}", "#include <vector>",
          "x <<= 2; y >>= 3; z != w", "a && b || !c", "arr[i][j] = 0;", "print(f\"{name!r:>10}\")",
          "$ ls -la | grep foo > out.txt", "```python\nprint('hi')\n```", "// comment\n/* block */",
          "    \n    \n", "\tindented\twith\ttabs", "foo_bar.baz(qux=1)", "λx.x"]:
    add(t)
# Special-token text.
for t in ["<|begin_of_text|>", "<|begin_of_text|>Hello", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
          "<|im_start|>user", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
          "<|endoftext|>", "text<|endoftext|>more", "<think>\nreasoning\n</think>", "<bos>", "<start_of_turn>user\nhi<end_of_turn>",
          "<eos>", "<pad>", "<unk>", "<mask>", "<unused0>", "<|im_start|><|im_start|>", " <|im_start|> ",
          "<|im_start", "|im_start|>", "<|eot_id|>", "<s>", "</s>", "<|reserved_special_token_5|>", "<image_soft_token>",
          "<tool_call>{}</tool_call>", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"]:
    add(t)
# Valid but unusual UTF-8.
for t in ["\u0000", "a\u0000b", "\u0001\u0002\u0003", "\u007f", "\u0080", "\u00ad soft hyphen", "\u200b zero width",
          "\u200d", "\ufeffBOM", "\ufffd", "\uffff", "\U0010ffff", "\U0001f600\U0010fffd", "\u2028\u2029",
          "\u0085 next line", "\u180e", "\u061c", "\u202e reversed", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟘𝟙𝟚", "\U00020000 ext-b", "ꙮ",
          "\u0300", "\u0e01\u0e34\u0e4d", "ᄀ", "\u3099", "ㄱ"]:
    add(t)
# Mixed paragraphs.
add("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.")
add("In 2023, the model's accuracy was 97.5% — up from 91.2% (a 6.3-point gain).")
add("Q: What's the capital of France?\nA: Paris.\n\nQ: And Germany?\nA: Berlin.")
add("Résumé: naïve coöperation; façade; jalapeño; über-cool.")
add("混合 mixed 文字 text 123 😀 and more.")
add("Line with trailing spaces   \nand tabs\t\t\nend")
add(" ".join(["word"] * 50))
add("a" * 300)
add("ab" * 200)
add(" " * 40 + "x")
add("\n" * 40 + "y")
add("9" * 100)
add("!" * 50 + "?" * 50)
add("The year 1999 and 2000 and 12345678901234567890.")
# Every printable ASCII character alone and in pairs with a space.
for c in range(0x20, 0x7f):
    add(chr(c))
    add(" " + chr(c) + chr(c))

seen = set()
out = []
for t in s:
    if t not in seen:
        seen.add(t)
        out.append(t)
print(json.dumps(out, ensure_ascii=False, indent=0))
