#include "atman/model/answer.h"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "atman/base/text.h"
#include "atman/io/image.h"
#include "atman/model/sequence.h"
#include "atman/model/target_pass.h"

namespace atman {

at::Tensor writable_logits(const Model& model, const at::Tensor& logits) {
  const int64_t writable = std::min(model.tokenizer().vocab_size(), logits.size(-1));
  return logits.narrow(-1, 0, writable);
}

GreedyAnswer greedy_answer(const Model& model, const std::string& prompt, const cv::Mat& image_rgb,
                           int64_t max_tokens) {
  check_input_text(prompt, "prompt");  // empty, whitespace only, not UTF-8
  if (!image_rgb.empty() && !model.has_image())
    throw std::invalid_argument("model " + model.path() + " is text-only (config image is null) but an image was given");
  c10::InferenceMode guard;
  const ModelConfig& config = model.config();
  // [bos] + text before {image} + the image + text after it (docs/contract.md).
  const PromptIds layout = prompt_ids(config, model.tokenizer(), prompt);
  const std::vector<int64_t>& ids = layout.ids;
  const int64_t positions = static_cast<int64_t>(ids.size()) + (image_rgb.empty() ? 0 : config.image->patches());
  if (positions > config.max_positions)  // before embedding: a huge prompt must not be embedded
    throw std::invalid_argument("the prompt needs " + std::to_string(positions) + " positions but the model allows " +
                                std::to_string(config.max_positions));
  if (ids.empty() && image_rgb.empty()) throw std::invalid_argument("prompt gives no tokens");
  at::Tensor embeddings;
  if (image_rgb.empty()) {
    embeddings = model.embed_text(at::tensor(ids, at::kLong).unsqueeze(0));
  } else {
    const at::Tensor image = model.embed_image(image_to_tensor(image_rgb, *config.image));
    if (ids.empty()) {
      embeddings = image;
    } else {
      const at::Tensor text = model.embed_text(at::tensor(ids, at::kLong).unsqueeze(0));
      const int64_t at_id = layout.image_index, rest = text.size(1) - at_id;
      embeddings = at::cat({text.narrow(1, 0, at_id), image, text.narrow(1, at_id, rest)}, 1);
    }
  }
  if (embeddings.size(1) > config.max_positions)
    throw std::invalid_argument("the prompt needs " + std::to_string(embeddings.size(1)) +
                                " positions but the model allows " + std::to_string(config.max_positions));

  GreedyAnswer answer;
  while (static_cast<int64_t>(answer.ids.size()) < max_tokens && embeddings.size(1) < config.max_positions) {
    const at::Tensor last_logits = target_row_logits(model, embeddings, {embeddings.size(1) - 1}).select(1, 0);
    if (!at::isfinite(last_logits).all().item<bool>())
      throw std::runtime_error("model " + model.path() + " returned non-finite logits (NaN or Inf)");
    const int64_t next = writable_logits(model, last_logits).argmax(-1).item<int64_t>();
    if (config.eos_id && next == *config.eos_id) break;
    answer.ids.push_back(next);
    embeddings = at::cat({embeddings, model.embed_text(at::tensor({next}, at::kLong).unsqueeze(0))}, 1);
  }
  answer.text = trimmed(model.tokenizer().decode(answer.ids), " ");
  return answer;
}

}  // namespace atman
