#pragma once
// The models `atman serve` keeps loaded, each under the name a request uses
// (`--model NAME=PATH`).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "atman/model/model.h"

namespace atman::serve {

struct ServedModel {
  std::string name;
  std::string path;
  std::shared_ptr<const Model> model;
};

/// Splits "NAME=PATH"; throws std::invalid_argument for a missing '=' or a
/// name outside [A-Za-z0-9._-]{1,64}.
std::pair<std::string, std::string> parse_model_flag(const std::string& flag);

/// Whether `name` is a well-formed model name ([A-Za-z0-9._-]{1,64}, not "." or "..").
bool is_model_name(const std::string& name);

class ServedModels {
 public:
  /// Loads every "NAME=PATH" once; throws on a bad flag, a repeated name or a model that does not load.
  explicit ServedModels(const std::vector<std::string>& flags);

  /// The model a request names; ApiError 404 for a name not served, 400 for a malformed one.
  const ServedModel& find(const std::string& name) const;

  const std::map<std::string, ServedModel>& all() const { return models_; }

 private:
  std::map<std::string, ServedModel> models_;
};

}  // namespace atman::serve
