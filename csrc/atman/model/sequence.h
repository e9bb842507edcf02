#pragma once
// The model's input for one prompt and target (docs/method.md and docs/contract.md):
// checked text, prompt and target token ids, and where the image's positions
// stand in the sequence.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "atman/model/model.h"

namespace atman {

enum class PositionKind { kImage, kText, kTarget };

/// Checks user text (a prompt, target or question) as every entry point does:
/// throws std::invalid_argument "`what` is empty", "... is only whitespace" or
/// "... is not valid UTF-8 (byte 0x.. at offset N)".
void check_input_text(const std::string& text, const char* what);

/// `--question` fills the model's prompt_template; `--prompt` is verbatim.
/// Throws std::invalid_argument for an empty or non-UTF-8 question.
std::string prompt_from_question(const ModelConfig& config, const std::string& question);

/// The token layout of one explanation.
///
/// Positions: [0, image_positions) image patches (row-major), then
/// prompt_ids (BOS first when add_bos), then target_ids except the last.
struct Sequence {
  std::string prompt;
  std::string target;
  int64_t image_positions = 0;  // P; 0 without an image
  int64_t grid_rows = 0, grid_cols = 0;
  std::vector<int64_t> prompt_ids;
  std::vector<std::string> prompt_pieces;
  std::vector<int64_t> target_ids;
  std::vector<std::string> target_pieces;

  int64_t prompt_begin() const { return image_positions; }
  int64_t target_begin() const { return image_positions + static_cast<int64_t>(prompt_ids.size()); }
  /// S = P + prompt + target - 1.
  int64_t length() const { return target_begin() + static_cast<int64_t>(target_ids.size()) - 1; }
  /// Text ids of positions P..S-1 (prompt, then target but the last).
  std::vector<int64_t> text_ids() const;
  /// Logit row predicting target token t: target_begin() - 1 + t.
  int64_t prediction_row(int64_t t) const { return target_begin() - 1 + t; }
  PositionKind kind_of(int64_t position) const;
  /// Token id at a text/target position (-1 for image positions).
  int64_t token_id_at(int64_t position) const;
  /// Piece at a text/target position ("" for image positions).
  const std::string& piece_at(int64_t position) const;
};

/// Tokenizes prompt and target for `model` and checks them: non-empty, valid
/// UTF-8, a target of at least one token, and S (image prefix included)
/// within max_positions. `image_positions` is 0 without an image.
/// Throws std::invalid_argument with one line naming the value.
Sequence build_sequence(const Model& model, const std::string& prompt, const std::string& target,
                        int64_t image_positions);
/// The same from a config and a tokenizer (what build_sequence(model, ...) uses).
Sequence build_sequence(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& prompt,
                        const std::string& target, int64_t image_positions);


}  // namespace atman
