#include "atman/model/hf_tokenizer/pattern.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/regex.h"

namespace atman::hf {

Pattern::Pattern(const nlohmann::json& config, const std::string& where) {
  if (!config.is_object() || config.size() != 1) {
    throw std::invalid_argument(where + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, got " +
                                config.dump().substr(0, 60));
  }
  if (config.contains("String") && config["String"].is_string()) {
    literal_ = config["String"].get<std::string>();
  } else if (config.contains("Regex") && config["Regex"].is_string()) {
    const std::string pattern = config["Regex"].get<std::string>();
    try {
      regex_ = std::make_unique<Regex>(pattern);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + ": invalid regex " + nlohmann::json(pattern).dump() + " (" + e.what() +
                                  ")");
    }
  } else {
    throw std::invalid_argument(where + ": \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, got " +
                                config.dump().substr(0, 60));
  }
}

Pattern::~Pattern() = default;

std::vector<std::pair<size_t, size_t>> Pattern::find_all(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> out;
  if (literal_.empty()) return out;
  for (size_t at = text.find(literal_); at != std::string_view::npos; at = text.find(literal_, at + literal_.size())) {
    out.emplace_back(at, at + literal_.size());
  }
  return out;
}

}  // namespace atman::hf
