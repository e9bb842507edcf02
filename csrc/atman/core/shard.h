#pragma once
// Dealing a sweep's work units to the ranks of a process group
// (docs/distributed.md): every rank plans the same units, deals them the
// same way, and runs its own share.

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/pass_runner.h"

namespace atman {

/// Query positions each unit computes (the cost a deal balances), plus
/// `call_overhead` per unit: with prefix reuse a unit computes from its rows'
/// smallest first suppressed position to the end, otherwise every position.
std::vector<int64_t> unit_costs(const at::Tensor& modifiers, const std::vector<WorkUnit>& units, bool prefix_reuse,
                                int64_t call_overhead = 24);

/// The rank (0..ranks-1) of every unit: the costliest unit first (ties by
/// index) to the least loaded rank (ties to the lowest). Deterministic: the
/// same costs give the same deal on every rank.
std::vector<int64_t> deal_units(const std::vector<int64_t>& costs, int64_t ranks);

}  // namespace atman
