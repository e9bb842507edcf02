#include "atman/base/text.h"

#include <c10/util/Exception.h>

namespace atman {

std::string first_line(std::string_view text, size_t max_chars) {
  std::string line(text.substr(0, text.find('\n')));
  if (line.size() > max_chars) line = line.substr(0, max_chars) + "...";
  return line;
}

std::string one_line_message(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return first_line(c10->what_without_backtrace(), std::string::npos);
  }
  return first_line(e.what(), std::string::npos);
}

std::string trimmed(std::string_view text, std::string_view blanks) {
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(blanks);
  return std::string(text.substr(first, last - first + 1));
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  if (text.empty()) return parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      parts.emplace_back(text.substr(start));
      return parts;
    }
    parts.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace atman
