#include "atman/model/hf_tokenizer/byte_level.h"

#include <unordered_map>

#include "atman/model/hf_tokenizer/normalized_text.h"

namespace atman::hf {
namespace {

// Printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the
// others, in byte order, for U+0100, U+0101, ...
struct ByteTable {
  std::array<std::string, 256> chars;
  std::unordered_map<char32_t, int> bytes;
  ByteTable() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      append_utf8(cp, chars[b]);
      bytes[cp] = b;
    }
  }
};

const ByteTable& table() {
  static const ByteTable t;
  return t;
}

}  // namespace

const std::string& byte_to_char(uint8_t byte) { return table().chars[byte]; }

int char_to_byte(char32_t cp) {
  const auto& bytes = table().bytes;
  const auto it = bytes.find(cp);
  return it == bytes.end() ? -1 : it->second;
}

bool byte_level_to_bytes(std::string_view text, std::string* out) {
  std::string bytes;
  bytes.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t n = 0;
    const int b = char_to_byte(decode_utf8(text, i, &n));
    if (b < 0) return false;
    bytes += static_cast<char>(b);
    i += n;
  }
  *out = std::move(bytes);
  return true;
}

}  // namespace atman::hf
