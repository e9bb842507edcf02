#include "atman/core/names.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace atman {
namespace {

template <typename Enum>
using Table = std::vector<std::pair<Enum, const char*>>;

const Table<Granularity>& granularities() {
  static const Table<Granularity> table = {
      {Granularity::kToken, "token"},         {Granularity::kWord, "word"},
      {Granularity::kSentence, "sentence"},   {Granularity::kParagraph, "paragraph"},
      {Granularity::kDelimiter, "delimiter"}, {Granularity::kAuto, "auto"}};
  return table;
}

const Table<TokenOverlap>& token_overlaps() {
  static const Table<TokenOverlap> table = {{TokenOverlap::kPartial, "partial"}, {TokenOverlap::kComplete, "complete"}};
  return table;
}

const Table<ImageSearch>& image_searches() {
  static const Table<ImageSearch> table = {{ImageSearch::kFull, "full"}, {ImageSearch::kCoarseToFine, "coarse-to-fine"}};
  return table;
}

const Table<PassStrategy>& strategies() {
  static const Table<PassStrategy> table = {{PassStrategy::kAuto, "auto"},
                                            {PassStrategy::kFullLogits, "full-logits"},
                                            {PassStrategy::kTargetOnly, "target-only"},
                                            {PassStrategy::kPrefixReuse, "prefix-reuse"}};
  return table;
}

const Table<TargetGranularity>& target_granularities() {
  static const Table<TargetGranularity> table = {{TargetGranularity::kComplete, "complete"},
                                                 {TargetGranularity::kToken, "token"}};
  return table;
}

const Table<Postprocess>& postprocesses() {
  static const Table<Postprocess> table = {
      {Postprocess::kNone, "none"}, {Postprocess::kAbsolute, "absolute"}, {Postprocess::kSquare, "square"}};
  return table;
}

const Table<Precision>& precisions() {
  static const Table<Precision> table = {{Precision::kFloat32, "fp32"}, {Precision::kBFloat16, "bf16"}, {Precision::kAuto, "auto"}};
  return table;
}

const Table<Control>& controls() {
  static const Table<Control> table = {{Control::kMultiplicative, "multiplicative"},
                                       {Control::kLogAdditive, "log-additive"}};
  return table;
}

template <typename Enum>
std::string name_of(const Table<Enum>& table, Enum value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return table.front().second;
}

template <typename Enum>
std::vector<std::string> names_of(const Table<Enum>& table) {
  std::vector<std::string> out;
  for (const auto& entry : table) out.emplace_back(entry.second);
  return out;
}

template <typename Enum>
Enum parse_name(const Table<Enum>& table, const std::string& name, const char* what) {
  for (const auto& [v, n] : table) {
    if (name == n) return v;
  }
  throw std::invalid_argument(std::string(what) + " must be " + choice_text(names_of(table)) + ", got \"" + name +
                              "\"");
}

}  // namespace

std::string choice_text(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

std::optional<double> parse_finite_number(const std::string& text) {
  double value = 0.0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (text.empty() || used != text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<double> parse_conceptual_threshold(const std::string& text, const std::string& name) {
  if (text == "off" || text == "none") return std::nullopt;
  const std::optional<double> value = parse_finite_number(text);
  if (!value || *value < -1.0 || *value > 1.0) {
    throw std::invalid_argument(name + " must be a number in [-1, 1] or off, got \"" + text + "\"");
  }
  return value;
}

std::string default_conceptual_threshold_text() { return fmt::format("{}", kDefaultConceptualThreshold); }

std::string granularity_name(Granularity granularity) { return name_of(granularities(), granularity); }
Granularity parse_granularity(const std::string& name) { return parse_name(granularities(), name, "granularity"); }
std::vector<std::string> granularity_names() { return names_of(granularities()); }

std::string token_overlap_name(TokenOverlap overlap) { return name_of(token_overlaps(), overlap); }
TokenOverlap parse_token_overlap(const std::string& name) { return parse_name(token_overlaps(), name, "token overlap"); }
std::vector<std::string> token_overlap_names() { return names_of(token_overlaps()); }

std::string image_search_name(ImageSearch search) { return name_of(image_searches(), search); }
ImageSearch parse_image_search(const std::string& name) { return parse_name(image_searches(), name, "image search"); }
std::vector<std::string> image_search_names() { return names_of(image_searches()); }

std::string strategy_name(PassStrategy strategy) { return name_of(strategies(), strategy); }
PassStrategy parse_strategy(const std::string& name) { return parse_name(strategies(), name, "strategy"); }
std::vector<std::string> strategy_names() { return names_of(strategies()); }

std::string precision_name(Precision precision) { return name_of(precisions(), precision); }
Precision parse_precision(const std::string& name) { return parse_name(precisions(), name, "precision"); }
std::vector<std::string> precision_names() { return names_of(precisions()); }

std::string control_name(Control control) { return name_of(controls(), control); }
Control parse_control(const std::string& name) { return parse_name(controls(), name, "control"); }
std::vector<std::string> control_names() { return names_of(controls()); }

std::string target_granularity_name(TargetGranularity granularity) {
  return name_of(target_granularities(), granularity);
}
TargetGranularity parse_target_granularity(const std::string& name) {
  return parse_name(target_granularities(), name, "target granularity");
}
std::vector<std::string> target_granularity_names() { return names_of(target_granularities()); }

std::string postprocess_name(Postprocess postprocess) { return name_of(postprocesses(), postprocess); }
Postprocess parse_postprocess(const std::string& name) { return parse_name(postprocesses(), name, "postprocess"); }
std::vector<std::string> postprocess_names() { return names_of(postprocesses()); }

std::string position_kind_name(PositionKind kind) {
  switch (kind) {
    case PositionKind::kImage: return "image";
    case PositionKind::kText: return "text";
    case PositionKind::kTarget: return "target";
  }
  return "text";
}

}  // namespace atman
