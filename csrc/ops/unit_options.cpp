#include "unit_options.h"

#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/core/custom_groups.h"
#include "atman/core/names.h"

namespace atman::ops {
namespace {

using json = nlohmann::json;

std::string text_value(const json& v, const std::string& key) {
  if (!v.is_string()) throw std::invalid_argument(fmt::format("units: \"{}\" must be a string, got {}", key, v.dump()));
  return v.get<std::string>();
}

int64_t integer_value(const json& v, const std::string& key) {
  if (!v.is_number_integer()) {
    throw std::invalid_argument(fmt::format("units: \"{}\" must be an integer, got {}", key, v.dump()));
  }
  return v.get<int64_t>();
}

}  // namespace

void apply_unit_options(const std::string& json_text, ExplainOptions& o) {
  if (json_text.empty()) return;
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(fmt::format("units: not valid JSON ({})", e.what()));
  }
  if (!doc.is_object()) throw std::invalid_argument("units: expected a JSON object, got " + doc.dump());
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string key = it.key();
    const json& v = it.value();
    if (key == "granularity") {
      o.granularity = parse_granularity(text_value(v, key));
    } else if (key == "delimiter") {
      o.delimiter = text_value(v, key);
    } else if (key == "target_units") {
      o.target_units = integer_value(v, key);
    } else if (key == "groups") {
      o.groups = parse_custom_groups(v.dump(), "units.groups");
    } else if (key == "token_overlap") {
      o.token_overlap = parse_token_overlap(text_value(v, key));
    } else if (key == "image_granularity") {
      o.image_granularity = v.is_string() && v.get<std::string>() == "patch" ? 0 : integer_value(v, key);
    } else if (key == "image_search") {
      o.image_search = parse_image_search(text_value(v, key));
    } else if (key == "refine_fraction") {
      if (!v.is_number()) throw std::invalid_argument("units: \"refine_fraction\" must be a number, got " + v.dump());
      o.refine_fraction = v.get<double>();
    } else {
      throw std::invalid_argument(fmt::format(
          "units: unknown key \"{}\" (granularity, delimiter, target_units, groups, token_overlap, "
          "image_granularity, image_search, refine_fraction)",
          key));
    }
  }
}

}  // namespace atman::ops
