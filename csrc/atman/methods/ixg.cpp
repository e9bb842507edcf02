#include "atman/methods/ixg.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include "atman/methods/baseline_passes.h"

namespace atman {

at::Tensor input_x_gradient_of(const Model& model, const PreparedInput& prepared, const ScoreFunction& score) {
  baseline::freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  at::Tensor x = baseline::plain_embeddings(prepared).requires_grad_(true);
  const at::Tensor scores = score(x);  // [1, T]
  at::Tensor values = at::zeros({seq.length(), t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) {
    const at::Tensor g = torch::autograd::grad({scores.select(1, k).sum()}, {x}, {}, /*retain_graph=*/k + 1 < t)[0];
    values.select(1, k).copy_((x.detach().to(at::kDouble) * g.to(at::kDouble)).sum(-1)[0]);
  }
  return values;
}

at::Tensor input_x_gradient(const Model& model, const PreparedInput& prepared) {
  const Sequence& seq = prepared.sequence;
  return input_x_gradient_of(model, prepared,
                             [&](const at::Tensor& x) { return baseline::score_rows(model, seq, x); });
}

}  // namespace atman
