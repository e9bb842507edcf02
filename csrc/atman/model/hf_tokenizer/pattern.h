#pragma once
// A tokenizer.json pattern ({"String": "..."} or {"Regex": "..."}) as a
// matcher of non-overlapping byte ranges; shared by Replace and Split.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace atman::hf {

class Regex;

class Pattern {
 public:
  /// `where` names the component in errors ("normalizer Replace").
  Pattern(const nlohmann::json& config, const std::string& where);
  ~Pattern();
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
};

}  // namespace atman::hf
