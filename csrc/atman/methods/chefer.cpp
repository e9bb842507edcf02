#include "atman/methods/chefer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include "atman/methods/baseline_passes.h"
#include "atman/methods/registry.h"
#include "atman/model/target_pass.h"

namespace atman {

at::Tensor chefer_rule(const std::vector<at::Tensor>& maps, const std::vector<at::Tensor>& grads) {
  TORCH_CHECK(!maps.empty() && maps.size() == grads.size(), "chefer_rule: expected as many gradients as maps, got ",
              grads.size(), " and ", maps.size());
  at::Tensor r;
  for (size_t l = 0; l < maps.size(); ++l) {
    at::Tensor a = maps[l].detach().to(at::kDouble);
    if (a.dim() == 4) a = a[0];
    TORCH_CHECK(a.dim() == 3 && a.size(1) == a.size(2), "chefer_rule: expected maps [H, S, S], got ",
                maps[l].sizes(), " at layer ", l);
    at::Tensor g = grads[l].defined() ? grads[l].detach().to(at::kDouble) : at::zeros_like(a);
    if (g.dim() == 4) g = g[0];
    TORCH_CHECK(g.sizes() == a.sizes(), "chefer_rule: gradient of layer ", l, " is ", grads[l].sizes(),
                ", its map ", maps[l].sizes());
    if (!r.defined()) r = at::eye(a.size(1), at::kDouble);
    const at::Tensor a_bar = (g * a).clamp_min(0.0).mean(0);
    r = r + a_bar.matmul(r);
  }
  return r;
}

at::Tensor chefer_relevance(const Model& model, const PreparedInput& prepared) {
  check_method_supported(model, Method::kChefer);
  baseline::freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  // The embeddings require grad only to put the attention maps into the graph.
  at::Tensor x = baseline::plain_embeddings(prepared).requires_grad_(true);
  const baseline::AttentionPass pass = baseline::forward_with_attentions(model, x);
  const at::Tensor rows = at::tensor(prediction_rows(seq), at::kLong);
  const at::Tensor scores = target_token_log_probs(seq.target_ids, pass.logits.index_select(1, rows))[0];  // [T]
  std::vector<at::Tensor> matrices;
  for (int64_t k = 0; k < t; ++k) {
    const auto grads = torch::autograd::grad({scores[k]}, pass.maps, {}, /*retain_graph=*/k + 1 < t,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    matrices.push_back(chefer_rule(pass.maps, grads));
  }
  return baseline::attention_rows_to_values(seq, matrices, true);
}

}  // namespace atman
