#pragma once
// The spans of a prompt that steered generation controls (docs/steering.md):
// the prompt laid out as generation sees it, and the grammar of --suppress /
// --amplify resolved to sequence positions.

#include <cstdint>
#include <string>
#include <vector>

#include "atman/model/model.h"

namespace atman {

enum class ControlKind { kSuppress, kAmplify };

/// One --suppress/--amplify: a span of the prompt (grammar in docs/steering.md):
///   "text"        every whole-word occurrence of text in the prompt
///   "text@k"      its k-th occurrence (1-based)
///   "image"       every image patch
///   "image:r0,c0,r1,c1"  the patch rectangle rows r0..r1, columns c0..c1
///                 (0-based grid coordinates, both ends inclusive)
///   "token:k", "word:k", "sentence:k"  the k-th (1-based) text token, word
///                 or sentence of the prompt (BOS not counted)
struct SteeringControl {
  ControlKind kind = ControlKind::kSuppress;
  std::string span;
};

/// The positions of a prompt (and image) as generation sees them:
/// text tokens (BOS first when add_bos) with the image's patches first, or
/// where the prompt's "{image}" stands (docs/contract.md).
struct SteeringPrompt {
  std::string prompt;                 // as given ("{image}" included)
  std::vector<int64_t> text_ids;      // every text token in order
  std::vector<std::string> pieces;    // their pieces
  std::vector<int64_t> text_begin;    // byte range of each text token in `prompt`; -1 for BOS
  std::vector<int64_t> text_end;
  int64_t image_begin = 0;            // first patch position; image_positions == 0 without an image
  int64_t image_positions = 0;
  int64_t grid_rows = 0, grid_cols = 0;
  int64_t length() const { return static_cast<int64_t>(text_ids.size()) + image_positions; }
  /// Sequence position of text token n.
  int64_t text_position(int64_t n) const { return n < image_text_split ? n : n + image_positions; }
  int64_t image_text_split = 0;  // text tokens before the image
};

/// Tokenizes `prompt` for `model` (with `image_positions` patches, 0 for none)
/// and checks it: valid, non-empty text, within max_positions.
SteeringPrompt build_steering_prompt(const Model& model, const std::string& prompt, int64_t image_positions);

/// The sequence positions of one span (sorted, unique, never empty). Throws
/// std::invalid_argument with one line for an unknown, empty, absent or out of
/// range span ("span image:0,0,12,3: rows must be in [0, 11] ...").
std::vector<int64_t> resolve_span(const SteeringPrompt& prompt, const Tokenizer& tokenizer, const std::string& span);

const char* control_kind_name(ControlKind kind);  // "suppress", "amplify"

}  // namespace atman
