#pragma once
// Greedy answers of a contract model: what `atman answer` prints and what
// `atman accuracy` compares with a benchmark set's expected answers.

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "atman/model/model.h"

namespace atman {

/// The logits [..., V] of the ids the tokenizer can write: the first
/// tokenizer().vocab_size() of them. Checkpoints pad the embedding beyond the
/// tokenizer (Qwen2: 151936 rows, 151665 ids); those rows have no text and
/// are never generated.
at::Tensor writable_logits(const Model& model, const at::Tensor& logits);

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
