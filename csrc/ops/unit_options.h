#pragma once
// The `units` argument of Explainer.explain / explain_pixels: the explained
// units as one JSON object, the same choices as `atman explain`'s flags
// (docs/library.md):
//   {"granularity": "delimiter", "delimiter": ";"}
//   {"groups": {"groups": [{"name": "colour", "spans": [[18, 22]]}]}, "token_overlap": "complete"}
//   {"image_search": "coarse-to-fine", "image_granularity": 3, "refine_fraction": 0.5}

#include <string>

#include "atman/core/options.h"

namespace atman::ops {

/// Sets options' unit fields from `json_text` ("" or "{}": unchanged). Keys:
/// granularity, delimiter, target_units, groups (a groups file's object),
/// token_overlap, image_granularity ("patch" or N), image_search,
/// refine_fraction. Throws std::invalid_argument with one line for malformed
/// JSON, an unknown key or a value of the wrong type; the values themselves
/// are checked by the explainer.
void apply_unit_options(const std::string& json_text, ExplainOptions& options);

}  // namespace atman::ops
