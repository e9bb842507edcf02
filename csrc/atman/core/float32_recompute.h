#pragma once
// A reduced-precision sweep (bfloat16) made exact where it is read: the units
// a reader looks at, the top ones and every unit close enough to them to
// change places within the reduced precision's error, are computed again in
// float32 (docs/speed.md, "Reduced precision").
//
//   const at::Tensor relevance = ...;           // R[i, t] of the bfloat16 sweep, float64 [N, T]
//   std::vector<int64_t> rows = rows_to_recompute(relevance, 10, 0.15);
//   Float32Values exact = recompute_in_float32(fp32_runner, modifiers, rows, batch, progress);
//   for (size_t k = 0; k < rows.size(); ++k) relevance[rows[k]] = exact.relevance[k];

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/core/pass_runner.h"

namespace atman {

/// The rows to recompute: the `top` largest by R[i] = sum_t R[i, t], and
/// every row whose R[i] is at least the top-th's minus `margin` x max |R|
/// (a row the reduced precision put below the top-th could belong above it).
/// Ascending row order. `top` 0: none.
std::vector<int64_t> rows_to_recompute(const at::Tensor& relevance, int64_t top, double margin);

struct Float32Values {
  at::Tensor clean_ce;   // float64 [T]: the clean pass in float32
  at::Tensor relevance;  // float64 [rows.size(), T]: R of each row, against clean_ce
  int64_t passes = 0;    // the rows' passes and the clean one
};

/// The clean pass and `rows` of `modifiers` through `runner` (a float32
/// one), in batches of `batch_size`; `progress` after each batch.
Float32Values recompute_in_float32(PassRunner& runner, const at::Tensor& modifiers, const std::vector<int64_t>& rows,
                                   int64_t batch_size, const ProgressCallback& progress);

}  // namespace atman
