#pragma once
// Oniguruma behind a small class: the engine Hugging Face's tokenizers compiles
// Split and Replace patterns with (UTF-8, ONIG_SYNTAX_DEFAULT, no options).

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atman::hf {

/// Usage:
///   Regex re("\\p{L}+");                          // std::invalid_argument on a bad pattern
///   for (auto [b, e] : re.find_all("ab 12 cd")) {} // [0,2), [6,8)
/// Immutable; find_all may be called from several threads (creating and
/// freeing are serialised: Oniguruma requires it).
class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// Non-overlapping matches, left to right, as byte ranges [begin, end). After
  /// an empty match the search resumes one character further.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  void* regex_ = nullptr;  // regex_t*
};

}  // namespace atman::hf
