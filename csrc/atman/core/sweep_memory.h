#pragma once
// How much memory a sweep needs, estimated from the model's shape before it
// runs, so that the batch size fits the memory budget (runtime/resource_limits.h).

#include <cstdint>

#include "atman/model/model.h"
#include "atman/runtime/resource_limits.h"

namespace atman {

/// For a sequence of `positions` positions, `rows` modifier rows and
/// `targets` target tokens; `full_logits` when passes return [B, S, V]
/// logits (else only the target rows are projected); `conceptual` when the
/// [S, S] similarity matrix is built.
SweepMemory estimate_sweep_memory(const ModelConfig& config, int64_t positions, int64_t rows, int64_t targets,
                                  bool full_logits, bool conceptual);

/// Bytes of the prefix cache [L, 2, Hkv, positions, d_head] in float32, with
/// Hkv = num_kv_heads (grouped-query attention: what the model's own KV cache
/// costs) and d_head = hidden_size / num_heads (docs/optional_methods.md).
int64_t prefix_cache_bytes(const ModelConfig& config, int64_t positions);

}  // namespace atman
