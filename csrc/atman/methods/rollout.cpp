#include "atman/methods/rollout.h"

#include <c10/core/InferenceMode.h>
#include <ATen/ATen.h>

#include "atman/methods/baseline_passes.h"
#include "atman/methods/registry.h"

namespace atman {

at::Tensor attention_rollout(const std::vector<at::Tensor>& maps) {
  TORCH_CHECK(!maps.empty(), "attention_rollout: no attention maps");
  at::Tensor rollout;
  for (size_t l = 0; l < maps.size(); ++l) {
    at::Tensor a = maps[l].detach().to(at::kDouble);
    if (a.dim() == 4) {
      TORCH_CHECK(a.size(0) == 1, "attention_rollout: expected a batch of 1, got ", a.sizes());
      a = a[0];
    }
    TORCH_CHECK(a.dim() == 3 && a.size(1) == a.size(2), "attention_rollout: expected maps [H, S, S], got ",
                maps[l].sizes(), " at layer ", l);
    const at::Tensor eye = at::eye(a.size(1), at::kDouble);
    const at::Tensor hat = 0.5 * (a.mean(0) + eye);
    if (rollout.defined()) {
      TORCH_CHECK(rollout.size(0) == hat.size(0), "attention_rollout: layer ", l, " has ", hat.size(0),
                  " positions, layer 0 has ", rollout.size(0));
      rollout = hat.matmul(rollout);
    } else {
      rollout = hat;
    }
  }
  return rollout;
}

at::Tensor attention_rollout_relevance(const Model& model, const PreparedInput& prepared) {
  check_method_supported(model, Method::kRollout);
  c10::InferenceMode guard;
  const baseline::AttentionPass pass = baseline::forward_with_attentions(model, prepared.embeddings);
  const at::Tensor rollout = attention_rollout(pass.maps);
  const int64_t t = static_cast<int64_t>(prepared.sequence.target_ids.size());
  return baseline::attention_rows_to_values(prepared.sequence, std::vector<at::Tensor>(t, rollout), false);
}

}  // namespace atman
