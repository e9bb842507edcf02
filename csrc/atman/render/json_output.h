#pragma once
// Explanation -> JSON (docs/json.md), plus extra keys: "method",
// "members" for groups, "params.granularity", "image_grid" (null without an
// image) and "stats".

#include <string>

#include "atman/core/explanation.h"

namespace atman {

/// The JSON document as text (pretty-printed with `indent` spaces; -1: one line).
std::string explanation_to_json(const Explanation& explanation, int indent = 2);

/// "token" / "word" / "sentence"; and back (throws std::invalid_argument).
std::string granularity_name(Granularity granularity);
Granularity parse_granularity(const std::string& name);
/// "image" / "text" / "target".
std::string position_kind_name(PositionKind kind);

}  // namespace atman
