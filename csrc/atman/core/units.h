#pragma once
// The explained units (docs/method.md, "Groups"): image patches or tiles,
// text positions grouped into tokens, words, sentences, paragraphs or
// delimited pieces, or the user's own groups.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "atman/core/options.h"
#include "atman/model/sequence.h"

namespace atman {

/// The explained units in sequence order: every image patch alone (where the
/// image stands: first, or at {image}), the prompt's and the target's (but the
/// last) text positions grouped by `granularity`. Groups never cross the
/// image or the prompt/target boundary; control
/// tokens (BOS) are their own group. A word starts at a piece beginning with
/// "▁", or after a piece ending in whitespace (a newline piece of a byte-level
/// BPE; whitespace-only pieces end the word before them); a sentence ends after a piece ending in '.', '?' or '!'; a paragraph
/// ends with a run of whitespace holding two line breaks; a delimited unit
/// ends with each occurrence of `delimiter` (kDelimiter only). A unit boundary
/// in the text falls before the first token whose characters (leading
/// whitespace aside) start at or after it. kAuto is refused: resolve it with
/// choose_granularity first.
std::vector<std::vector<int64_t>> explained_groups(const Sequence& sequence, Granularity granularity,
                                                   const Tokenizer& tokenizer, const std::string& delimiter = "");

/// Granularity::kAuto's choice: the coarsest of sentence, word and token
/// whose text units (control tokens aside) number at least `target_units`
/// (token when none does).
Granularity choose_granularity(const Sequence& sequence, const Tokenizer& tokenizer, int64_t target_units);

/// What a unit is beyond its members, for the outputs (ExplainedUnit's fields
/// of the same names, core/explanation.h).
struct UnitLabel {
  std::string name;              // a custom group's name; empty otherwise
  std::vector<double> coverage;  // custom groups: per member, the covered fraction of its characters or area
  int64_t tile_row0 = -1, tile_row1 = -1;  // an image tile: its patch rows, both ends inclusive
  int64_t tile_col0 = -1, tile_col1 = -1;  // and its patch columns
  bool refined = true;  // false: a patch carrying its tile's relevance (coarse-to-fine)
};

/// Everything prepare() explains: the groups in sequence order (of their
/// first member), per group the suppression weight of each member (empty:
/// every member gets the full factor; token overlap partial: the covered
/// fraction) and its label, and kAuto's chosen granularity.
struct ExplainedUnits {
  std::vector<std::vector<int64_t>> groups;
  std::vector<std::vector<double>> weights;
  std::vector<UnitLabel> labels;
  std::optional<Granularity> chosen_granularity;
};

/// The units of `options` (custom groups, the text granularity, image tiles)
/// for `sequence`; `image_width` x `image_height` is the original image (for
/// custom groups' rectangles), `image_config` the model's. Throws
/// std::invalid_argument with one line for bad options (an empty delimiter,
/// tiles larger than the grid, a group outside the prompt, ...).
ExplainedUnits explained_units(const Sequence& sequence, const ExplainOptions& options, const Tokenizer& tokenizer,
                               int image_width = 0, int image_height = 0,
                               const std::optional<ImageConfig>& image_config = std::nullopt);

}  // namespace atman
