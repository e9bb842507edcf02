#pragma once
// The clean target pass: the logits of the rows that predict the target
// tokens, and the targets' log-probabilities from them. One place for what
// the baselines' scores, `atman eval`'s clean answer and greedy decoding all
// compute (the sweep's batched passes are the pass runners, core/pass_runner.h).
//
// Usage:
//   const std::vector<int64_t> rows = prediction_rows(sequence);
//   at::Tensor logits = target_row_logits(model, embeddings, rows);   // [B, T, V]
//   at::Tensor lp = target_token_log_probs(sequence.target_ids, logits);  // float64 [B, T]

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/model/model.h"
#include "atman/model/sequence.h"

namespace atman {

/// The row whose logits predict each target token, in target order [T].
std::vector<int64_t> prediction_rows(const Sequence& sequence);

/// The logits of `rows` of an unmodified pass (all modifiers 1) over
/// `embeddings` [B, S, D]: [B, rows, V]. hidden_states + lm_head on those
/// rows only when the model has them (never [B, S, V]), else forward. In the
/// autograd graph when the embeddings require grad; no finiteness check.
at::Tensor target_row_logits(const Model& model, const at::Tensor& embeddings, const std::vector<int64_t>& rows);

/// log p(target_ids[t]) from logits rows [B, T, V]: float64 [B, T] (in the graph).
at::Tensor target_token_log_probs(const std::vector<int64_t>& target_ids, const at::Tensor& logits);

}  // namespace atman
