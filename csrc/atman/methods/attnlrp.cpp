#include "atman/methods/attnlrp.h"

#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "atman/methods/baseline_passes.h"
#include "atman/methods/ixg.h"
#include "atman/model/target_pass.h"

namespace atman {
namespace {

// The target tokens' logits [1, T] of forward_lrp on embeddings [1, S, D] (in the graph).
at::Tensor target_logits(const Model& model, const Sequence& seq, const at::Tensor& embeddings) {
  const at::Tensor logits = model.forward_lrp(embeddings);
  baseline::check_finite_logits(model, logits);
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  const at::Tensor rows = logits.index_select(1, at::tensor(prediction_rows(seq), at::kLong));  // [1, T, V]
  const at::Tensor ids = at::tensor(seq.target_ids, at::kLong).view({1, t, 1});
  return rows.gather(2, ids).squeeze(2);
}

}  // namespace

void check_attnlrp_supported(const Model& model) {
  if (model.capabilities().forward_lrp) return;
  throw std::invalid_argument(fmt::format("{}: model {} has no method forward_lrp(embeddings) "
                                          "(docs/optional_methods.md): method attnlrp needs it",
                                          model.path(), model.config().name));
}

at::Tensor attnlrp_relevance(const Model& model, const PreparedInput& prepared) {
  check_attnlrp_supported(model);
  const Sequence& seq = prepared.sequence;
  return input_x_gradient_of(model, prepared,
                             [&](const at::Tensor& x) { return target_logits(model, seq, x); });
}

at::Tensor attnlrp_logits(const Model& model, const PreparedInput& prepared) {
  check_attnlrp_supported(model);
  c10::InferenceMode guard;
  return target_logits(model, prepared.sequence, prepared.embeddings)[0].to(at::kDouble);
}

}  // namespace atman
