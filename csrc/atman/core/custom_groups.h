#pragma once
// Custom explained units (`--groups FILE`, docs/method.md, "Custom groups"):
// the file's JSON and its mapping onto tokens and patches, with the covered
// fraction of each (--token-overlap).
//
//   {"groups": [{"name": "colour", "spans": [[4, 9], [20, 24]]},
//               {"name": "left half", "rect": [0, 0, 0.5, 1]}]}

#include <optional>
#include <string>
#include <vector>

#include "atman/core/options.h"
#include "atman/core/units.h"
#include "atman/model/sequence.h"

namespace atman {

/// The groups of a groups file's text; `origin` names it in errors. Throws
/// std::invalid_argument with one line: malformed JSON, no "groups" array, a
/// group without a name or with a repeated one, an empty group (neither
/// spans nor rect), a span that is not [start, end] with 0 <= start < end, a
/// rect that is not [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1.
std::vector<CustomGroup> parse_custom_groups(const std::string& json_text, const std::string& origin);

/// The same from a file (throws std::runtime_error when it cannot be read).
std::vector<CustomGroup> read_custom_groups(const std::string& path);

/// The units of `groups` over `sequence`, in sequence order of their first
/// member: the prompt tokens their spans touch (a token's characters are its
/// own, leading whitespace aside) and the patches their rectangle touches (a
/// patch is its cell of the model's view of the original image_width x
/// image_height image), each with its covered fraction (label coverage).
/// Weights: the fractions with kPartial, none (every member the full factor)
/// with kComplete. Throws std::invalid_argument naming the group: a span
/// beyond the prompt's characters, a rect without an image, groups that
/// overlap (characters or rectangles), a group covering no token or patch.
ExplainedUnits custom_units(const Sequence& sequence, const std::vector<CustomGroup>& groups, TokenOverlap overlap,
                            const Tokenizer& tokenizer, int image_width, int image_height,
                            const std::optional<ImageConfig>& image_config);

}  // namespace atman
