// The memory meters (runtime/memory_meter.h): the allocation meter measures
// known tensor allocations, the resident peak sees touched pages.
#include "atman/runtime/memory_meter.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kTolerance = 64 * 1024;  // a little of LibTorch's own bookkeeping

TEST(AllocationMeterTest, MeasuresAKnownAllocationWithinATolerance) {
  AllocationMeter meter;
  meter.reset_peak();
  EXPECT_EQ(meter.peak_bytes_since_reset(), 0);
  const int64_t before = meter.live_bytes();
  {
    const at::Tensor t = at::empty({kMiB}, at::kFloat);  // 4 MiB of storage
    EXPECT_NEAR(static_cast<double>(meter.live_bytes() - before), 4.0 * kMiB, kTolerance);
  }
  EXPECT_NEAR(static_cast<double>(meter.live_bytes() - before), 0.0, kTolerance);  // freed
  EXPECT_NEAR(static_cast<double>(meter.peak_bytes_since_reset()), 4.0 * kMiB, kTolerance);
}

TEST(AllocationMeterTest, PeakIsWhatWasAliveAtOnceSinceTheReset) {
  AllocationMeter meter;
  {
    const at::Tensor before_reset = at::empty({4 * kMiB}, at::kFloat);  // 16 MiB, gone before the reset
  }
  meter.reset_peak();
  for (int i = 0; i < 3; ++i) (void)at::empty({kMiB}, at::kFloat);  // 4 MiB, three times one after another
  EXPECT_NEAR(static_cast<double>(meter.peak_bytes_since_reset()), 4.0 * kMiB, kTolerance);
  {
    const at::Tensor a = at::empty({kMiB}, at::kFloat), b = at::empty({2 * kMiB}, at::kFloat);
    EXPECT_NEAR(static_cast<double>(meter.peak_bytes_since_reset()), 12.0 * kMiB, kTolerance);
  }
  // Bytes alive at the reset are not counted.
  const at::Tensor held = at::empty({kMiB}, at::kFloat);
  meter.reset_peak();
  EXPECT_EQ(meter.peak_bytes_since_reset(), 0);
  const at::Tensor more = at::empty({kMiB / 2}, at::kFloat);
  EXPECT_NEAR(static_cast<double>(meter.peak_bytes_since_reset()), 2.0 * kMiB, kTolerance);
}

TEST(ResidentPeakTest, SeesTouchedPages) {
  const double start = resident_peak_mb();
  EXPECT_GT(start, 0.0);  // /proc/self/status is there on Linux
  if (!reset_resident_peak()) GTEST_SKIP() << "the kernel does not allow resetting VmHWM here";
  const double reset = resident_peak_mb();  // the resident size now
  std::vector<char> block(static_cast<size_t>(96 * kMiB));
  std::memset(block.data(), 1, block.size());
  EXPECT_GE(resident_peak_mb() - reset, 64.0);
  EXPECT_EQ(block[block.size() / 2], 1);
}

}  // namespace
}  // namespace atman
