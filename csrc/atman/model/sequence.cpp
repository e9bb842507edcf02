#include "atman/model/sequence.h"

#include <algorithm>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <utf8.h>

#include "atman/io/error_text.h"

namespace atman {
namespace {

void check_text(const std::string& text, const char* what) {
  if (text.empty()) throw std::invalid_argument(fmt::format("{} is empty", what));
  const auto bad = utf8::find_invalid(text.begin(), text.end());
  if (bad != text.end()) {
    throw std::invalid_argument(fmt::format("{} is not valid UTF-8 (byte 0x{:02x} at offset {})", what,
                                            static_cast<unsigned char>(*bad), bad - text.begin()));
  }
  if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); })) {
    throw std::invalid_argument(fmt::format("{} is only whitespace", what));
  }
}


}  // namespace

void check_input_text(const std::string& text, const char* what) { check_text(text, what); }

std::string prompt_from_question(const ModelConfig& config, const std::string& question) {
  check_text(question, "question");
  std::string prompt = config.prompt_template;
  const std::string key = "{question}";
  for (size_t at = prompt.find(key); at != std::string::npos; at = prompt.find(key, at + question.size())) {
    prompt.replace(at, key.size(), question);
  }
  return prompt;
}

std::vector<int64_t> Sequence::text_ids() const {
  std::vector<int64_t> ids = prompt_ids;
  ids.insert(ids.end(), target_ids.begin(), target_ids.end() - 1);
  return ids;
}

PositionKind Sequence::kind_of(int64_t position) const {
  if (position >= image_begin && position < image_end()) return PositionKind::kImage;
  return position < target_begin() ? PositionKind::kText : PositionKind::kTarget;
}

int64_t Sequence::token_id_at(int64_t position) const {
  if (position >= image_begin && position < image_end()) return -1;
  if (position < image_begin) return prompt_ids.at(position);
  if (position < target_begin()) return prompt_ids.at(position - image_positions);
  return target_ids.at(position - target_begin());
}

const std::string& Sequence::piece_at(int64_t position) const {
  static const std::string kEmpty;
  if (position >= image_begin && position < image_end()) return kEmpty;
  if (position < image_begin) return prompt_pieces.at(position);
  if (position < target_begin()) return prompt_pieces.at(position - image_positions);
  return target_pieces.at(position - target_begin());
}

std::pair<int64_t, int64_t> Sequence::patch_at(int64_t position) const {
  TORCH_CHECK(position >= image_begin && position < image_end() && grid_cols > 0, "Sequence::patch_at: position ",
              position, " is not an image position (image at [", image_begin, ", ", image_end(), "))");
  return {(position - image_begin) / grid_cols, (position - image_begin) % grid_cols};
}

at::Tensor sequence_embeddings(const Sequence& sequence, const at::Tensor& text_embeddings,
                               const at::Tensor& image_embeddings) {
  const int64_t p = sequence.image_positions;
  TORCH_CHECK(text_embeddings.dim() == 3 && text_embeddings.size(1) == sequence.length() - p,
              "sequence_embeddings: expected text embeddings [B, ", sequence.length() - p, ", D], got ",
              text_embeddings.sizes());
  if (p == 0) return text_embeddings;
  TORCH_CHECK(image_embeddings.defined() && image_embeddings.dim() == 3 && image_embeddings.size(1) == p,
              "sequence_embeddings: expected image embeddings [B, ", p, ", D], got ",
              image_embeddings.defined() ? c10::str(image_embeddings.sizes()) : std::string("none"));
  const int64_t b = sequence.image_begin;
  const int64_t rest = text_embeddings.size(1) - b;
  return at::cat({text_embeddings.narrow(1, 0, b), image_embeddings, text_embeddings.narrow(1, b, rest)}, 1);
}

PromptIds prompt_ids(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& prompt) {
  PromptIds out;
  if (config.add_bos) out.ids.push_back(config.bos_id);
  const std::string marker = kImageMarker;
  const size_t at = config.image ? prompt.find(marker) : std::string::npos;
  if (at == std::string::npos) {
    const auto ids = tokenizer.encode(prompt);
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
    return out;
  }
  if (prompt.find(marker, at + 1) != std::string::npos) {
    throw std::invalid_argument(
        fmt::format("prompt {} contains {{image}} more than once (at most once: docs/contract.md)", quoted_text(prompt)));
  }
  out.marker = at;
  const std::string before = prompt.substr(0, at), after = prompt.substr(at + marker.size());
  if (!before.empty()) {
    const auto ids = tokenizer.encode(before);
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
  }
  out.image_index = static_cast<int64_t>(out.ids.size());
  if (!after.empty()) {
    const auto ids = tokenizer.encode(after);
    out.ids.insert(out.ids.end(), ids.begin(), ids.end());
  }
  return out;
}

Sequence build_sequence(const Model& model, const std::string& prompt, const std::string& target,
                        int64_t image_positions) {
  return build_sequence(model.config(), model.tokenizer(), prompt, target, image_positions);
}

Sequence build_sequence(const ModelConfig& config, const Tokenizer& tokenizer, const std::string& prompt,
                        const std::string& target, int64_t image_positions) {
  check_text(prompt, "prompt");
  check_text(target, "target");
  Sequence s;
  s.prompt = prompt;
  s.target = target;
  s.image_positions = image_positions;
  if (image_positions > 0 && config.image) {
    s.grid_rows = config.image->grid_rows;
    s.grid_cols = config.image->grid_cols;
  }
  PromptIds ids = prompt_ids(config, tokenizer, prompt);
  s.prompt_ids = std::move(ids.ids);
  s.image_marker = ids.marker;
  s.image_begin = image_positions > 0 ? ids.image_index : 0;
  if (s.prompt_ids.empty() && image_positions == 0) throw std::invalid_argument("prompt gives no tokens");
  s.target_ids = tokenizer.encode(target);
  if (s.target_ids.empty()) throw std::invalid_argument(fmt::format("target {} gives no tokens", quoted_text(target)));
  s.prompt_pieces = tokenizer.pieces(s.prompt_ids);
  s.target_pieces = tokenizer.pieces(s.target_ids);
  if (s.length() > config.max_positions) {
    throw std::invalid_argument(fmt::format(
        "sequence of {} positions ({} image + {} prompt + {} target - 1) exceeds the model's max_positions {}",
        s.length(), image_positions, s.prompt_ids.size(), s.target_ids.size(), config.max_positions));
  }
  return s;
}

}  // namespace atman
