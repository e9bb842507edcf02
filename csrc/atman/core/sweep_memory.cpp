#include "atman/core/sweep_memory.h"

#include <algorithm>

namespace atman {
namespace {
constexpr int64_t kMiB = int64_t{1} << 20;
}  // namespace

int64_t prefix_cache_bytes(const ModelConfig& c, int64_t positions) {
  const int64_t head_width = c.num_heads > 0 ? c.head_width() : c.hidden_size;
  return saturating_mul(8, saturating_mul(c.num_layers, saturating_mul(positions, saturating_mul(c.kv_heads(), head_width))));
}

SweepMemory estimate_sweep_memory(const ModelConfig& c, int64_t positions, int64_t rows, int64_t targets,
                                  bool full_logits, bool conceptual) {
  const int64_t s = positions, d = c.hidden_size, h = c.num_heads, v = c.vocab_size;
  SweepMemory m;
  // Once: embeddings (image + text), modifier rows, the similarity matrix and
  // its normalised copy, per-row results (float64, twice), the clean pass' rows.
  int64_t fixed = saturating_mul(8, saturating_mul(s, d));
  fixed = saturating_add(fixed, saturating_mul(4, saturating_mul(rows, s)));
  if (conceptual) fixed = saturating_add(fixed, saturating_mul(8, saturating_mul(s, s)));
  fixed = saturating_add(fixed, saturating_mul(16, saturating_mul(rows, targets)));
  fixed = saturating_add(fixed, saturating_mul(rows, 512));  // explanation units, JSON text
  // Measured (docs/reliability.md, "Memory budget"): the first
  // pass leaves about 8 H x S x S floats of attention temporaries resident
  // (the allocator keeps freed blocks), plus threads, buffers and the outputs.
  fixed = saturating_add(fixed, saturating_mul(32, saturating_mul(h, saturating_mul(s, s))));
  fixed = saturating_add(fixed, 24 * kMiB);
  m.fixed_bytes = fixed;
  // Per row of a batch, float32, within one layer: attention scores, their
  // shifted/modified copy and the softmax (3 x H x S x S), q/k/v, attention
  // output, MLP, adapters, rotary tables and residuals (32 x S x D, measured);
  // then the logits: all S rows for full logits, the target rows otherwise
  // (float64 log-softmax).
  int64_t per_row = saturating_mul(4, saturating_add(saturating_mul(3, saturating_mul(h, saturating_mul(s, s))), saturating_mul(32, saturating_mul(s, d))));
  per_row = saturating_add(per_row, full_logits ? saturating_mul(4, saturating_mul(s, v)) : saturating_mul(4, saturating_mul(targets, d)));
  per_row = saturating_add(per_row, saturating_mul(16, saturating_mul(targets, v)));
  per_row = saturating_add(per_row, saturating_mul(4, s));  // the modifier row
  m.per_row_bytes = per_row;
  return m;
}

}  // namespace atman
