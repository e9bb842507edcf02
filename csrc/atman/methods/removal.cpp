#include "atman/methods/removal.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "atman/io/image.h"
#include "atman/methods/baseline_passes.h"
#include "atman/model/target_pass.h"

namespace atman {

std::string removal_operator_name(RemovalOperator op) { return op == RemovalOperator::kInput ? "input" : "attention"; }

Remover::Remover(const Model& model, const ExplainInput& input, const PreparedInput& prepared, int64_t batch)
    : model_(model), prepared_(prepared), batch_(std::max<int64_t>(batch, 1)) {
  c10::InferenceMode guard;
  if (prepared.sequence.image_positions > 0) {
    TORCH_CHECK(!input.image_rgb.empty() && model.has_image(), "Remover: the prepared input has an image, the input none");
    pixels_ = image_to_tensor(input.image_rgb, *model.config().image);
    pixel_mean_ = pixels_.mean({2, 3}, /*keepdim=*/true);
  }
  const Sequence& seq = prepared.sequence;
  runner_ = make_pass_runner(model, SweepInput{prepared.embeddings, prediction_rows(seq), seq.target_ids},
                             PassStrategy::kAuto);
}

Remover::~Remover() = default;

at::Tensor Remover::log_probs(RemovalOperator op, const std::vector<std::vector<int64_t>>& removed) const {
  const Sequence& seq = prepared_.sequence;
  for (const auto& set : removed) {
    for (int64_t p : set) {
      if (p < 0 || p >= seq.target_begin()) {
        throw std::invalid_argument(fmt::format(
            "Remover: position {} cannot be removed (image patches and prompt tokens are 0..{})", p,
            seq.target_begin() - 1));
      }
    }
  }
  c10::InferenceMode guard;
  if (op == RemovalOperator::kAttention) return attention_log_probs(removed);
  // Sets that delete text change the sequence's length: one pass each. Sets
  // of image patches alone keep it: `batch_` per pass.
  at::Tensor out = at::empty({static_cast<int64_t>(removed.size()), static_cast<int64_t>(seq.target_ids.size())},
                             at::kDouble);
  std::vector<int64_t> patch_only;
  for (size_t i = 0; i < removed.size(); ++i) {
    const bool text = std::any_of(removed[i].begin(), removed[i].end(),
                                  [&](int64_t p) { return seq.kind_of(p) == PositionKind::kText; });
    if (text) {
      out[static_cast<int64_t>(i)].copy_(input_log_probs(removed[i]));
    } else {
      patch_only.push_back(static_cast<int64_t>(i));
    }
  }
  for (size_t begin = 0; begin < patch_only.size(); begin += static_cast<size_t>(batch_)) {
    const size_t end = std::min(patch_only.size(), begin + static_cast<size_t>(batch_));
    std::vector<at::Tensor> embeddings;
    for (size_t k = begin; k < end; ++k) embeddings.push_back(embeddings_with_patches_filled(removed[patch_only[k]]));
    const at::Tensor logits = target_row_logits(model_, at::cat(embeddings), prediction_rows(seq));
    baseline::check_finite_logits(model_, logits);
    const at::Tensor lp = target_token_log_probs(seq.target_ids, logits);  // [n, T]
    for (size_t k = begin; k < end; ++k) out[patch_only[k]].copy_(lp[static_cast<int64_t>(k - begin)]);
  }
  return out;
}

at::Tensor Remover::attention_log_probs(const std::vector<std::vector<int64_t>>& removed) const {
  const int64_t s = prepared_.sequence.length();
  const int64_t n = static_cast<int64_t>(removed.size());
  at::Tensor modifiers = at::ones({n, s}, at::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p : removed[i]) modifiers[i][p] = 0.0f;
  }
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < n; begin += batch_) {
    parts.push_back(-runner_->target_cross_entropy(modifiers.slice(0, begin, std::min(n, begin + batch_))));
  }
  return at::cat(parts);
}

at::Tensor Remover::image_with_patches_filled(const std::vector<int64_t>& patches) const {
  const Sequence& seq = prepared_.sequence;
  at::Tensor pixels = pixels_.clone();
  const auto rects = patch_rectangles(static_cast<int>(pixels.size(3)), static_cast<int>(pixels.size(2)),
                                      seq.grid_rows, seq.grid_cols);
  for (int64_t patch : patches) {
    const PixelRect& r = rects[patch];
    pixels.slice(2, r.y0, r.y1).slice(3, r.x0, r.x1).copy_(pixel_mean_.expand({1, 3, r.height(), r.width()}));
  }
  return model_.embed_image(pixels);
}

at::Tensor Remover::embeddings_with_patches_filled(const std::vector<int64_t>& removed) const {
  const Sequence& seq = prepared_.sequence;
  std::vector<int64_t> patches;
  for (int64_t p : removed) {
    if (p >= seq.image_begin && p < seq.image_end()) patches.push_back(p - seq.image_begin);
  }
  if (patches.empty()) return prepared_.embeddings;
  at::Tensor embeddings = prepared_.embeddings.clone();
  embeddings.slice(1, seq.image_begin, seq.image_end()).copy_(image_with_patches_filled(patches));
  return embeddings;
}

at::Tensor Remover::input_log_probs(const std::vector<int64_t>& removed) const {
  const Sequence& seq = prepared_.sequence;
  const std::set<int64_t> gone(removed.begin(), removed.end());
  at::Tensor embeddings = embeddings_with_patches_filled(removed);
  std::vector<int64_t> kept;
  for (int64_t p = 0; p < seq.length(); ++p) {
    if (seq.kind_of(p) != PositionKind::kText || !gone.count(p)) kept.push_back(p);
  }
  const int64_t deleted = seq.length() - static_cast<int64_t>(kept.size());
  if (deleted == seq.target_begin()) {
    throw std::invalid_argument("Remover: removing every prompt position leaves nothing to predict the target from");
  }
  if (deleted > 0) embeddings = embeddings.index_select(1, at::tensor(kept, at::kLong));
  std::vector<int64_t> rows = prediction_rows(seq);
  for (int64_t& r : rows) r -= deleted;  // every deleted token stands before the target
  const at::Tensor logits = target_row_logits(model_, embeddings, rows);
  baseline::check_finite_logits(model_, logits);
  return target_token_log_probs(seq.target_ids, logits)[0];
}

}  // namespace atman
