#include "atman/model/hf_tokenizer/normalized_text.h"

#include <algorithm>

#include <utf8proc.h>

namespace atman::hf {

NormalizedText NormalizedText::original(const std::string& source, size_t begin, size_t end) {
  NormalizedText t;
  t.text.assign(source, begin, end - begin);
  t.align.resize(end - begin);
  for (size_t i = begin; i < end; ++i) {
    t.align[i - begin] = {static_cast<int32_t>(i), static_cast<int32_t>(i + 1)};
  }
  return t;
}

NormalizedText NormalizedText::slice(size_t begin, size_t end) const {
  NormalizedText t;
  t.text.assign(text, begin, end - begin);
  t.align.assign(align.begin() + static_cast<std::ptrdiff_t>(begin), align.begin() + static_cast<std::ptrdiff_t>(end));
  return t;
}

Span NormalizedText::original_span(size_t begin, size_t end) const {
  if (align.empty()) return {};
  if (begin >= end) {
    if (begin < align.size()) return {align[begin].begin, align[begin].begin};
    return {align.back().end, align.back().end};
  }
  Span s = align[begin];
  for (size_t i = begin + 1; i < end; ++i) {
    s.begin = std::min(s.begin, align[i].begin);
    s.end = std::max(s.end, align[i].end);
  }
  return s;
}

void NormalizedText::append(std::string_view bytes, Span span) {
  text.append(bytes);
  align.insert(align.end(), bytes.size(), span);
}

void NormalizedText::append(const NormalizedText& other) {
  text += other.text;
  align.insert(align.end(), other.align.begin(), other.align.end());
}

char32_t decode_utf8(std::string_view text, size_t pos, size_t* length) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t n = utf8_length(lead);
  if (pos + n > text.size()) n = 1;
  char32_t cp = n == 1 ? lead : n == 2 ? (lead & 0x1F) : n == 3 ? (lead & 0x0F) : (lead & 0x07);
  for (size_t i = 1; i < n; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  *length = n;
  return cp;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_unicode_whitespace(char32_t cp) {
  switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

bool is_unicode_alphanumeric(char32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

}  // namespace atman::hf
