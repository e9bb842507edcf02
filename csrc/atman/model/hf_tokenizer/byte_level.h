#pragma once
// GPT-2's byte-to-unicode table: every byte as one printable character
// ("Ġ" for the space, "Ċ" for the newline), used by the ByteLevel
// pre-tokenizer and decoder.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace atman::hf {

/// The character (UTF-8) that stands for `byte`.
const std::string& byte_to_char(uint8_t byte);
/// The byte that character `cp` stands for, or -1 when `cp` is not in the table.
int char_to_byte(char32_t cp);
/// The bytes behind a byte-level string ("Ġred" -> " red"); false (and `out`
/// untouched) when a character is not in the table.
bool byte_level_to_bytes(std::string_view text, std::string* out);

}  // namespace atman::hf
