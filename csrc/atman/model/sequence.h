#pragma once
// The model's input for one prompt and target (docs/method.md and docs/contract.md):
// checked text, prompt and target token ids, and where the image's positions
// stand in the sequence.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

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

/// The prompt's text ids and where the image's positions stand among them
/// (docs/contract.md, "Prompt and target ids"): [bos] + encode(text before
/// {image}) + the image + encode(text after {image}), each part encoded on its
/// own (an empty part gives no ids). Without {image} the image comes first,
/// before BOS (image_index 0). The marker is read only for a model with an
/// image; without an image it stands for nothing (the parts are still
/// encoded on their own). Throws std::invalid_argument when the prompt holds
/// {image} more than once.
struct PromptIds {
  std::vector<int64_t> ids;           // BOS first when add_bos
  int64_t image_index = 0;            // the image's positions stand before ids[image_index]
  size_t marker = std::string::npos;  // byte offset of {image} in the prompt, npos without it
};
PromptIds prompt_ids(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& prompt);

/// The token layout of one explanation.
///
/// Positions: the prompt's text ids with the P image patches (row-major)
/// standing at [image_begin, image_begin + P) among them (image_begin is 0
/// without {image}, so the image comes first), then target_ids except the
/// last. prompt_ids hold the prompt's text ids in sequence order.
struct Sequence {
  std::string prompt;
  std::string target;
  int64_t image_positions = 0;  // P; 0 without an image
  int64_t image_begin = 0;      // first image position (ids before it: prompt_ids[0, image_begin))
  size_t image_marker = std::string::npos;  // byte offset of {image} in `prompt`, npos without it
  int64_t grid_rows = 0, grid_cols = 0;
  std::vector<int64_t> prompt_ids;
  std::vector<std::string> prompt_pieces;
  std::vector<int64_t> target_ids;
  std::vector<std::string> target_pieces;

  int64_t image_end() const { return image_begin + image_positions; }
  /// Sequence position of prompt_ids[k].
  int64_t prompt_position(int64_t k) const { return k < image_begin ? k : k + image_positions; }
  int64_t target_begin() const { return image_positions + static_cast<int64_t>(prompt_ids.size()); }
  /// S = P + prompt + target - 1.
  int64_t length() const { return target_begin() + static_cast<int64_t>(target_ids.size()) - 1; }
  /// Text ids in sequence order without the image (prompt, then target but the last).
  std::vector<int64_t> text_ids() const;
  /// Logit row predicting target token t: target_begin() - 1 + t.
  int64_t prediction_row(int64_t t) const { return target_begin() - 1 + t; }
  PositionKind kind_of(int64_t position) const;
  /// Token id at a text/target position (-1 for image positions).
  int64_t token_id_at(int64_t position) const;
  /// Piece at a text/target position ("" for image positions).
  const std::string& piece_at(int64_t position) const;
  /// (row, col) of the patch at an image position.
  std::pair<int64_t, int64_t> patch_at(int64_t position) const;
};

/// The layer-0 input [1, S, D] of `sequence`: the embeddings of text_ids()
/// [1, S - P, D] with the image's [1, P, D] inserted at image_begin (undefined
/// or empty image embeddings without an image).
at::Tensor sequence_embeddings(const Sequence& sequence, const at::Tensor& text_embeddings,
                               const at::Tensor& image_embeddings);

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
