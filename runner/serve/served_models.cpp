#include "served_models.h"

#include <stdexcept>

#include "api_error.h"

namespace atman::serve {

bool is_model_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::pair<std::string, std::string> parse_model_flag(const std::string& flag) {
  const size_t eq = flag.find('=');
  if (eq == std::string::npos || eq + 1 == flag.size()) {
    throw std::invalid_argument("--model takes NAME=PATH, got \"" + flag + "\"");
  }
  std::string name = flag.substr(0, eq);
  if (!is_model_name(name)) {
    throw std::invalid_argument("--model " + flag + ": the name must be 1-64 of A-Z a-z 0-9 . _ -");
  }
  return {name, flag.substr(eq + 1)};
}

ServedModels::ServedModels(const std::vector<std::string>& flags) {
  for (const std::string& flag : flags) {
    auto [name, path] = parse_model_flag(flag);
    if (models_.count(name)) throw std::invalid_argument("--model " + name + " is given twice");
    models_[name] = ServedModel{name, path, Model::load(path)};
  }
  if (models_.empty()) throw std::invalid_argument("give at least one --model NAME=PATH");
}

const ServedModel& ServedModels::find(const std::string& name) const {
  if (!is_model_name(name)) throw bad_request("model must be a served model's name (A-Z a-z 0-9 . _ -), not a path");
  const auto it = models_.find(name);
  if (it == models_.end()) throw ApiError(404, "model \"" + name + "\" is not served (GET /v1/models lists them)");
  return it->second;
}

}  // namespace atman::serve
