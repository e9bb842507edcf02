#pragma once
// Explanation -> JSON (docs/json.md), plus extra keys: "method",
// "members" for groups, "params.granularity", "image_grid" (null without an
// image) and "stats".

#include <string>

#include "atman/core/explanation.h"
#include "atman/core/names.h"  // granularity_name, position_kind_name: the names the JSON uses

namespace atman {

/// The JSON document as text (pretty-printed with `indent` spaces; -1: one line).
std::string explanation_to_json(const Explanation& explanation, int indent = 2);

}  // namespace atman
