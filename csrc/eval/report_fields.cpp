#include "eval/report_fields.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace atman {

std::string format_number(double v) { return fmt::format("{}", v); }

std::string kappa_text(const std::optional<double>& kappa) { return kappa ? format_number(*kappa) : "off"; }

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

double number_or_nan(const nlohmann::ordered_json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (!it->is_number()) throw std::invalid_argument(fmt::format("\"{}\" is not a number", key));
  return it->get<double>();
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : ""; }

}  // namespace atman
