#include "atman/methods/ig.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include "atman/methods/baseline_passes.h"

namespace atman {

at::Tensor integrated_gradients(const Model& model, const PreparedInput& prepared, int64_t steps, int64_t batch) {
  TORCH_CHECK(steps >= 1, "integrated_gradients: steps must be >= 1, got ", steps);
  TORCH_CHECK(batch >= 0, "integrated_gradients: batch must be >= 0, got ", batch);
  baseline::freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  const int64_t b = batch > 0 ? std::min(batch, steps) : std::min<int64_t>(steps, 32);
  const at::Tensor x = baseline::plain_embeddings(prepared);  // [1, S, D]
  std::vector<at::Tensor> grad_sums(t);
  for (int64_t begin = 0; begin < steps; begin += b) {
    const int64_t n = std::min(b, steps - begin);
    const at::Tensor alphas = ((at::arange(begin, begin + n, at::kDouble) + 0.5) / static_cast<double>(steps))
                                  .to(at::kFloat)
                                  .view({n, 1, 1});
    at::Tensor points = (alphas * x).detach().requires_grad_(true);  // [n, S, D]
    const at::Tensor scores = baseline::score_rows(model, seq, points);  // [n, T]
    for (int64_t k = 0; k < t; ++k) {
      const at::Tensor g =
          torch::autograd::grad({scores.select(1, k).sum()}, {points}, {}, /*retain_graph=*/k + 1 < t)[0];
      const at::Tensor summed = g.to(at::kDouble).sum(0);  // [S, D]
      grad_sums[k] = grad_sums[k].defined() ? grad_sums[k] + summed : summed;
    }
  }
  const at::Tensor x64 = x[0].to(at::kDouble);
  at::Tensor values = at::zeros({seq.length(), t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) {
    values.select(1, k).copy_((x64 * grad_sums[k] / static_cast<double>(steps)).sum(-1));
  }
  return values;
}

}  // namespace atman
