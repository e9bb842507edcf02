#include "atman/model/target_pass.h"

#include <ATen/ATen.h>

namespace atman {

std::vector<int64_t> prediction_rows(const Sequence& sequence) {
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < static_cast<int64_t>(sequence.target_ids.size()); ++t) {
    rows.push_back(sequence.prediction_row(t));
  }
  return rows;
}

at::Tensor target_row_logits(const Model& model, const at::Tensor& embeddings, const std::vector<int64_t>& rows) {
  TORCH_CHECK(embeddings.dim() == 3, "target_row_logits: expected embeddings [B, S, D], got ", embeddings.sizes());
  const int64_t b = embeddings.size(0), s = embeddings.size(1);
  const at::Tensor ones = at::ones({b, s}, at::kFloat);
  const at::Tensor index = at::tensor(rows, at::kLong);
  const int64_t t = index.size(0);
  if (model.capabilities().target_only()) {
    const at::Tensor hidden = model.hidden_states(embeddings, ones).index_select(1, index);
    return model.lm_head(hidden.reshape({b * t, hidden.size(2)})).view({b, t, -1});
  }
  return model.forward(embeddings, ones).index_select(1, index);
}

at::Tensor target_token_log_probs(const std::vector<int64_t>& target_ids, const at::Tensor& logits) {
  const int64_t b = logits.size(0), t = logits.size(1);
  TORCH_CHECK(t == static_cast<int64_t>(target_ids.size()), "target_token_log_probs: ", t, " logit rows for ",
              target_ids.size(), " target tokens");
  const at::Tensor ids = at::tensor(target_ids, at::kLong).view({1, t, 1}).expand({b, t, 1});
  return at::log_softmax(logits.to(at::kDouble), -1).gather(2, ids).squeeze(2);
}

}  // namespace atman
