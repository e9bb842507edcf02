#include "atman/methods/loo.h"

#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "atman/methods/removal.h"

namespace atman {

at::Tensor leave_one_out(const Model& model, const ExplainInput& input, const PreparedInput& prepared,
                         int64_t* passes) {
  c10::InferenceMode guard;
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  std::vector<std::vector<int64_t>> removed = {{}};  // the clean pass first
  std::vector<int64_t> first_members;
  for (const std::vector<int64_t>& group : prepared.groups) {
    if (seq.kind_of(group.front()) == PositionKind::kTarget) continue;
    removed.push_back(group);
    first_members.push_back(group.front());
  }
  const Remover remover(model, input, prepared);
  const at::Tensor lp = remover.log_probs(RemovalOperator::kInput, removed);  // [1 + G, T]
  at::Tensor values = at::zeros({seq.length(), t}, at::kDouble);
  for (size_t g = 0; g < first_members.size(); ++g) {
    values[first_members[g]].copy_(lp[0] - lp[static_cast<int64_t>(g) + 1]);  // CE rise = lp(clean) - lp(removed)
  }
  if (passes) *passes = static_cast<int64_t>(removed.size());
  return values;
}

}  // namespace atman
