#pragma once
// The cells of the evaluation's tables: numbers and texts as rows.jsonl,
// rows.csv and the summary files write them (eval_rows.h, eval_summary.h).

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace atman {

/// Shortest text that reads back as `v` ("0.1", "1e-05").
std::string format_number(double v);
/// A conceptual threshold, or "off".
std::string kappa_text(const std::optional<double>& kappa);
/// `v`, or null when it is not finite (JSON has no NaN).
nlohmann::ordered_json number_or_null(double v);
/// The number at `key`: NaN when missing or null; std::invalid_argument when another type.
double number_or_nan(const nlohmann::ordered_json& j, const char* key);
/// `text` as one CSV field: quoted (quotes doubled) when it holds a comma, quote or line end.
std::string csv_field(const std::string& text);
/// `v` with 9 significant digits; empty when not finite.
std::string csv_number(double v);

}  // namespace atman
