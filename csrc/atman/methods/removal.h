#pragma once
// Removal operators: the target's log-probability with some of the prompt's
// units taken away, for leave-one-out (loo.h) and the faithfulness curves of
// `atman eval` (eval/faithfulness.h). Two operators, each favouring a
// different kind of method (docs/evaluation.md#faithfulness-deletion-curves):
//
//   attention   every removed position gets modifier 0 in every layer
//               (AtMan's own suppression, single-token: no conceptual spread);
//               the sequence is otherwise unchanged
//   input       removed text tokens are deleted from the sequence (the
//               positions after them move up; the target stays last), removed
//               image patches are filled with the per-channel mean of the
//               model-resolution pixel tensor before embed_image
//
// Removable positions are image patches and prompt text tokens (BOS
// included); target positions are refused.
//
// Usage:
//   const PreparedInput prepared = explainer.prepare(input, options);
//   Remover remover(model, input, prepared);
//   at::Tensor lp = remover.log_probs(RemovalOperator::kInput, {{}, {3}, {3, 4}});  // float64 [3, T]

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/core/pass_runner.h"
#include "atman/model/model.h"

namespace atman {

enum class RemovalOperator { kAttention, kInput };

/// "attention", "input".
std::string removal_operator_name(RemovalOperator op);

class Remover {
 public:
  /// `input` must be what `prepared` was prepared from (its image is re-read
  /// into pixels for input removal). `batch`: rows per pass (attention
  /// suppression, and input removal of image patches alone).
  Remover(const Model& model, const ExplainInput& input, const PreparedInput& prepared, int64_t batch = 16);
  ~Remover();

  /// log p(target token t) with each set of positions removed: float64
  /// [sets, T] (an empty set: the clean model). Throws std::invalid_argument
  /// for a target position or one outside the sequence, std::runtime_error
  /// when the model gives NaN or Inf.
  at::Tensor log_probs(RemovalOperator op, const std::vector<std::vector<int64_t>>& removed) const;

 private:
  at::Tensor attention_log_probs(const std::vector<std::vector<int64_t>>& removed) const;
  at::Tensor input_log_probs(const std::vector<int64_t>& removed) const;
  /// The image's embeddings [1, P, D] with `patches` (0-based) filled with the mean.
  at::Tensor image_with_patches_filled(const std::vector<int64_t>& patches) const;
  /// The sequence's embeddings [1, S, D] with the image patches among `removed` filled.
  at::Tensor embeddings_with_patches_filled(const std::vector<int64_t>& removed) const;

  const Model& model_;
  const PreparedInput& prepared_;
  int64_t batch_;
  at::Tensor pixels_;      // [1, 3, H, W] model-resolution pixels (undefined without an image)
  at::Tensor pixel_mean_;  // [1, 3, 1, 1]
  std::unique_ptr<PassRunner> runner_;
};

}  // namespace atman
