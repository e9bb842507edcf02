#pragma once
// The names of the option enums, each table written once: what the command
// line accepts, the JSON writes and reads, and the reports print.
//
//   parse_strategy("prefix-reuse") == PassStrategy::kPrefixReuse
//   choice_text(strategy_names()) == "auto, full-logits, target-only or prefix-reuse"

#include <optional>
#include <string>
#include <vector>

#include "atman/core/options.h"
#include "atman/model/sequence.h"

namespace atman {

/// "token" / "word" / "sentence" / "paragraph" / "delimiter" / "auto"; and
/// back (throws std::invalid_argument naming the choices).
std::string granularity_name(Granularity granularity);
Granularity parse_granularity(const std::string& name);
std::vector<std::string> granularity_names();

/// "partial" / "complete"; and back.
std::string token_overlap_name(TokenOverlap overlap);
TokenOverlap parse_token_overlap(const std::string& name);
std::vector<std::string> token_overlap_names();

/// "full" / "coarse-to-fine"; and back.
std::string image_search_name(ImageSearch search);
ImageSearch parse_image_search(const std::string& name);
std::vector<std::string> image_search_names();

/// "auto", "full-logits", "target-only", "prefix-reuse"; and back.
std::string strategy_name(PassStrategy strategy);
PassStrategy parse_strategy(const std::string& name);
std::vector<std::string> strategy_names();

/// "fp32" / "bf16"; and back.
std::string precision_name(Precision precision);
Precision parse_precision(const std::string& name);
std::vector<std::string> precision_names();

/// "multiplicative" / "log-additive" (--control); and back.
std::string control_name(Control control);
Control parse_control(const std::string& name);
std::vector<std::string> control_names();

/// "complete" / "token" (--target-granularity); and back.
std::string target_granularity_name(TargetGranularity granularity);
TargetGranularity parse_target_granularity(const std::string& name);
std::vector<std::string> target_granularity_names();

/// "none" / "absolute" / "square" (--postprocess); and back.
std::string postprocess_name(Postprocess postprocess);
Postprocess parse_postprocess(const std::string& name);
std::vector<std::string> postprocess_names();

/// "image" / "text" / "target".
std::string position_kind_name(PositionKind kind);

/// The whole of `text` as a finite number (std::stod), or nullopt.
std::optional<double> parse_finite_number(const std::string& text);

/// A conceptual threshold as text: a number in [-1, 1], or "off"/"none" for
/// single-token suppression (nullopt). Throws std::invalid_argument
/// "NAME must be a number in [-1, 1] or off, got \"TEXT\"".
std::optional<double> parse_conceptual_threshold(const std::string& text, const std::string& name);
/// The default threshold as the command line shows it ("0.6").
std::string default_conceptual_threshold_text();

/// "a, b or c": the choices of a message.
std::string choice_text(const std::vector<std::string>& names);

}  // namespace atman
