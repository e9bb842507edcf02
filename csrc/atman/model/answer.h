#pragma once
// Greedy answers of a contract model: what `atman answer` prints and what
// `atman accuracy` compares with a benchmark set's expected answers.

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/model/model.h"

namespace atman {

struct GreedyAnswer {
  std::vector<int64_t> ids;  // generated tokens, without the end token
  std::string text;          // decoded, leading/trailing spaces removed
};

/// Decodes greedily after `prompt` (verbatim) and the optional image (8-bit
/// RGB), until the model's eos_id, max_tokens tokens or max_positions.
/// Runs under InferenceMode; throws with one line for bad input.
///
///   GreedyAnswer a = greedy_answer(*model, prompt_from_question(model->config(), q), image);
GreedyAnswer greedy_answer(const Model& model, const std::string& prompt, const cv::Mat& image_rgb,
                           int64_t max_tokens = 16);

}  // namespace atman
