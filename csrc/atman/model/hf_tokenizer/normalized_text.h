#pragma once
// A piece of text on its way through a tokenizer.json pipeline, with the byte
// range of the original text that each of its bytes stands for, and the small
// UTF-8 helpers the components share.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace atman::hf {

/// A byte range [begin, end) of the original text.
struct Span {
  int32_t begin = 0;
  int32_t end = 0;
};

/// Usage:
///   NormalizedText t = NormalizedText::original(text, 0, text.size());
///   Span s = t.original_span(0, 3);  // the original bytes behind t.text[0..3)
struct NormalizedText {
  std::string text;
  std::vector<Span> align;  // one per byte of text

  /// text[begin, end) of the original, each byte aligned to itself.
  static NormalizedText original(const std::string& source, size_t begin, size_t end);
  /// The bytes [begin, end) of this text, with their alignment.
  NormalizedText slice(size_t begin, size_t end) const;
  /// The original range covered by the bytes [begin, end) (begin == end: an
  /// empty range at the original position of `begin`).
  Span original_span(size_t begin, size_t end) const;
  /// Appends `bytes`, all aligned to `span`.
  void append(std::string_view bytes, Span span);
  /// Appends other's bytes with their alignment.
  void append(const NormalizedText& other);
  bool empty() const { return text.empty(); }
};

/// Length in bytes of the UTF-8 character starting with `lead` (1 for a
/// continuation byte, so that loops always advance).
inline size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

/// The code point at text[pos] (valid UTF-8 assumed); sets `length`.
char32_t decode_utf8(std::string_view text, size_t pos, size_t* length);
/// Appends the UTF-8 encoding of `cp` to `out`.
void append_utf8(char32_t cp, std::string& out);
/// Unicode White_Space (Rust's char::is_whitespace).
bool is_unicode_whitespace(char32_t cp);
/// Letter or number (Rust's char::is_alphanumeric).
bool is_unicode_alphanumeric(char32_t cp);

}  // namespace atman::hf
