#pragma once
// What `--precision auto` becomes (docs/speed.md, "Reduced precision"):
// bfloat16 where the CPU has bfloat16 instructions and the model is wide
// enough for them to pay, float32 otherwise.

#include <cstdint>
#include <string>

#include "atman/core/options.h"
#include "atman/model/model.h"

namespace atman {

/// Narrowest hidden size for which auto picks bfloat16: below it the passes'
/// fixed costs (casts, small products) ate the gain (measured, docs/speed.md).
constexpr int64_t kBFloat16MinWidth = 512;

/// Whether this CPU reports bfloat16 instructions (avx512_bf16 or amx_bf16 in
/// /proc/cpuinfo). ATMAN_ASSUME_NO_BF16=1 says no (a test switch).
bool cpu_has_bfloat16();

struct PrecisionChoice {
  Precision precision = Precision::kFloat32;
  std::string why;  // one line for --verbose
};

/// `asked` itself unless it is kAuto; for kAuto the choice above, and why.
PrecisionChoice choose_precision(Precision asked, const ModelConfig& config);

}  // namespace atman
