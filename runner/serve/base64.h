#pragma once
// Standard base64 (RFC 4648, section 4) for images in JSON bodies.

#include <string>
#include <string_view>

namespace atman::serve {

/// Encodes `bytes` with padding.
std::string base64_encode(std::string_view bytes);

/// Decodes `text`: the standard alphabet, padding optional, ASCII whitespace
/// ignored, and a "data:...;base64," prefix (a browser's data URL) skipped.
/// Throws std::invalid_argument naming the first bad character's offset.
std::string base64_decode(std::string_view text);

}  // namespace atman::serve
