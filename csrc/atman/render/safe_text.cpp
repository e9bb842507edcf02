#include "atman/render/safe_text.h"

#include <iterator>

#include <utf8.h>

namespace atman {

std::string without_controls(const std::string& raw, bool keep_layout) {
  std::string valid;
  utf8::replace_invalid(raw.begin(), raw.end(), std::back_inserter(valid));
  std::string out;
  for (auto it = valid.begin(); it != valid.end();) {
    const auto start = it;
    const uint32_t code = utf8::next(it, valid.end());
    if (keep_layout && (code == '\n' || code == '\t')) {
      out += static_cast<char>(code);
    } else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) {
      out += keep_layout ? "\uFFFD" : (code == '\n' ? "\\n" : code == '\t' ? "\\t" : "\uFFFD");
    } else {
      out.append(start, it);
    }
  }
  return out;
}

}  // namespace atman
