#include "atman/methods/baseline_passes.h"

#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/script.h>

#include "atman/base/text.h"
#include "atman/model/target_pass.h"

namespace atman::baseline {

void freeze_parameters(const Model& model) {
  for (at::Tensor p : model.module().parameters()) {
    if (p.requires_grad()) p.requires_grad_(false);
  }
}

at::Tensor plain_embeddings(const PreparedInput& prepared) {
  c10::InferenceMode off(false);
  return prepared.embeddings.clone().detach();
}

void check_finite_logits(const Model& model, const at::Tensor& logits) {
  if (!at::isfinite(logits.detach()).all().item<bool>()) {
    throw std::runtime_error(fmt::format("{}: model {} produced NaN or Inf logits", model.path(),
                                         model.config().name));
  }
}

at::Tensor score_rows(const Model& model, const Sequence& seq, const at::Tensor& embeddings) {
  const at::Tensor logits = target_row_logits(model, embeddings, prediction_rows(seq));
  check_finite_logits(model, logits);
  return target_token_log_probs(seq.target_ids, logits);
}

AttentionPass forward_with_attentions(const Model& model, const at::Tensor& embeddings) {
  const int64_t s = embeddings.size(1);
  const at::Tensor ones = at::ones({1, s}, at::kFloat);
  c10::IValue out;
  try {
    out = model.module().get_method("forward_with_attentions")({embeddings, ones});
  } catch (const c10::Error& e) {
    throw std::runtime_error(
        fmt::format("{}: method forward_with_attentions failed: {}", model.path(), one_line_message(e)));
  }
  const std::string expected = "expected (logits [1, S, V], List[Tensor [1, H, S, S]])";
  if (!out.isTuple() || out.toTupleRef().elements().size() != 2) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned {}, {}", model.path(),
                                         out.tagKind(), expected));
  }
  const auto& elements = out.toTupleRef().elements();
  AttentionPass pass;
  if (!elements[0].isTensor() || !elements[1].isTensorList()) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned ({}, {}), {}", model.path(),
                                         elements[0].tagKind(), elements[1].tagKind(), expected));
  }
  pass.logits = elements[0].toTensor();
  for (const at::Tensor& map : elements[1].toTensorVector()) pass.maps.push_back(map);
  const ModelConfig& c = model.config();
  if (pass.logits.dim() != 3 || pass.logits.size(0) != 1 || pass.logits.size(1) != s ||
      pass.logits.size(2) != c.vocab_size) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned logits {}, expected [1, {}, {}]",
                                         model.path(), c10::str(pass.logits.sizes()), s, c.vocab_size));
  }
  if (pass.maps.empty()) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned no attention maps", model.path()));
  }
  for (size_t l = 0; l < pass.maps.size(); ++l) {
    const at::Tensor& m = pass.maps[l];
    if (m.dim() != 4 || m.size(0) != 1 || m.size(2) != s || m.size(3) != s) {
      throw std::runtime_error(fmt::format("{}: forward_with_attentions: map of layer {} is {}, expected [1, H, {}, {}]",
                                           model.path(), l, c10::str(m.sizes()), s, s));
    }
  }
  check_finite_logits(model, pass.logits);
  return pass;
}

at::Tensor attention_rows_to_values(const Sequence& seq, const std::vector<at::Tensor>& per_target_matrices,
                                    bool remove_identity) {
  const int64_t s = seq.length();
  const int64_t t = static_cast<int64_t>(per_target_matrices.size());
  at::Tensor values = at::zeros({s, t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) {
    at::Tensor row = per_target_matrices[k][seq.prediction_row(k)].clone();
    if (remove_identity) row[seq.prediction_row(k)] -= 1.0;
    values.select(1, k).copy_(row);
  }
  return values;
}

}  // namespace atman::baseline
