// The memory budget (runtime/resource_limits.h) and the sweep-memory
// estimate it is checked against.

#include "atman/runtime/resource_limits.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "atman/core/sweep_memory.h"
#include "atman/model/model.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

TEST(MemoryBudgetTest, RefusesWhatDoesNotFitWithOneLine) {
  const MemoryBudget tiny(1);  // 1 MB: the process alone holds more
  EXPECT_TRUE(tiny.explicit_limit());
  EXPECT_EQ(tiny.remaining_bytes(), 0);
  expect_error([&] { tiny.require(10 << 20, "loading the model m.pt"); },
               {"loading the model m.pt needs about 10 MB more, but --max-memory 1 MB leaves 0 MB (the process holds "});
  const MemoryBudget roomy(1 << 20);  // 1 TB
  EXPECT_NO_THROW(roomy.require(1 << 30, "a gigabyte"));
  const MemoryBudget machine(0);
  EXPECT_FALSE(machine.explicit_limit());
  expect_error([&] { machine.require(int64_t{1} << 60, "the sweep"); },
               {"the sweep needs about 1099511627776 MB more, but this machine has only "});
  expect_error([] { MemoryBudget(-5); }, {"max memory must be >= 0 MB, got -5"});
}

TEST(MemoryBudgetTest, SweepEstimateGrowsWithLengthAndSaturates) {
  ModelConfig c;
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.num_heads = 4;
  c.num_layers = 2;
  const SweepMemory short_sweep = estimate_sweep_memory(c, 100, 100, 2, true, true);
  const SweepMemory long_sweep = estimate_sweep_memory(c, 1000, 1000, 2, true, true);
  EXPECT_GT(long_sweep.per_row_bytes, 20 * short_sweep.per_row_bytes);  // attention is quadratic
  EXPECT_LT(estimate_sweep_memory(c, 100, 100, 2, false, true).per_row_bytes, short_sweep.per_row_bytes);
  c.vocab_size = int64_t{1} << 40;  // a hostile config: no overflow, just "too much"
  c.hidden_size = int64_t{1} << 40;
  const SweepMemory huge = estimate_sweep_memory(c, 1 << 20, 1 << 20, 1 << 20, true, true);
  EXPECT_GT(huge.per_row_bytes, int64_t{1} << 50);
  EXPECT_GT(huge.bytes(32), 0);
  const MemoryBudget budget(1024);
  EXPECT_EQ(budget.largest_batch(huge, 32), 0);
}

}  // namespace
}  // namespace atman
