#pragma once
// An explanation read back from the JSON that json_output.h writes
// (docs/json.md): what the renderers need, so that pages can be made from
// files written earlier (`atman eval`'s example pages).
//
// Usage:
//   Explanation e = atman::explanation_from_json(read_file("ITEM.atman.json"));

#include <string>

#include "atman/core/explanation.h"

namespace atman {

/// The model, method, prompt, target, image grid, targets, contrast and every
/// position (index, kind, patch, piece, members, group name, tile, relevance,
/// per-target values) of `text`. Not read back: params beyond the
/// granularity, stats, the image config (the caller knows the model).
/// std::invalid_argument "explanation JSON: WHAT" for text that is not such a document.
Explanation explanation_from_json(const std::string& text);

}  // namespace atman
