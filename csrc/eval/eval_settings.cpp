#include "eval/eval_settings.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "atman/base/text.h"
#include "atman/core/names.h"
#include "eval/report_fields.h"

namespace atman {
namespace {

std::optional<double> parse_kappa(const std::string& text, const std::string& what) {
  return parse_conceptual_threshold(text, what + ": conceptual_threshold");
}

double parse_factor(const std::string& text, const std::string& what) {
  const std::optional<double> value = parse_finite_number(text);
  if (!value || *value < 0.0) {
    throw std::invalid_argument(
        fmt::format("{}: suppression_factor must be a finite number >= 0, got \"{}\"", what, text));
  }
  return *value;
}

}  // namespace

std::string EvalSetting::label() const {
  return fmt::format("f={},kappa={}", format_number(suppression_factor), kappa_text(conceptual_threshold));
}

std::vector<EvalSetting> sweep_settings(const EvalSetting& base, const std::vector<std::string>& specs, bool grid) {
  std::vector<double> factors;
  std::vector<std::optional<double>> kappas;
  bool has_f = false, has_k = false;
  for (const std::string& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      throw std::invalid_argument("--sweep must be KEY=V1,V2,... (KEY suppression_factor or conceptual_threshold), got \"" +
                                  spec + "\"");
    }
    std::string key = spec.substr(0, eq);
    std::replace(key.begin(), key.end(), '-', '_');
    const std::vector<std::string> values = split(spec.substr(eq + 1), ',');
    const std::string what = "--sweep " + spec;
    if (key == "suppression_factor") {
      if (has_f) throw std::invalid_argument("--sweep suppression_factor given twice");
      has_f = true;
      for (const std::string& v : values) factors.push_back(parse_factor(v, what));
    } else if (key == "conceptual_threshold") {
      if (has_k) throw std::invalid_argument("--sweep conceptual_threshold given twice");
      has_k = true;
      for (const std::string& v : values) kappas.push_back(parse_kappa(v, what));
    } else {
      throw std::invalid_argument(fmt::format(
          "--sweep key must be suppression_factor or conceptual_threshold, got \"{}\"", spec.substr(0, eq)));
    }
  }
  std::vector<EvalSetting> out;
  std::set<std::string> seen;
  auto add = [&](const EvalSetting& s) {
    if (seen.insert(s.label()).second) out.push_back(s);
  };
  if (grid && has_f && has_k) {
    add(base);
    for (double f : factors) {
      for (const auto& k : kappas) add({f, k});
    }
    return out;
  }
  add(base);
  for (double f : factors) add({f, base.conceptual_threshold});
  for (const auto& k : kappas) add({base.suppression_factor, k});
  return out;
}

}  // namespace atman
