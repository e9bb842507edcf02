#include "atman/runtime/memory_meter.h"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <string>

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

namespace atman {

struct AllocationMeter::State : public c10::MemoryReportingInfoBase {
  void reportMemoryUsage(void* /*ptr*/, int64_t alloc_size, int64_t /*total_allocated*/,
                         int64_t /*total_reserved*/, c10::Device device) override {
    if (device.type() != c10::DeviceType::CPU) return;
    std::lock_guard<std::mutex> lock(mutex);
    live += alloc_size;
    peak = std::max(peak, live);
  }
  bool memoryProfilingEnabled() const override { return true; }

  mutable std::mutex mutex;
  int64_t live = 0;
  int64_t peak = 0;
  int64_t base = 0;
};

struct AllocationMeter::Guard {
  explicit Guard(std::shared_ptr<c10::DebugInfoBase> info) : guard(c10::DebugInfoKind::PROFILER_STATE, std::move(info)) {}
  c10::DebugInfoGuard guard;
};

AllocationMeter::AllocationMeter() : state_(std::make_shared<State>()) {
  guard_ = std::make_unique<Guard>(state_);
}

AllocationMeter::~AllocationMeter() = default;

void AllocationMeter::reset_peak() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->peak = state_->live;
  state_->base = state_->live;
}

int64_t AllocationMeter::live_bytes() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->live;
}

int64_t AllocationMeter::peak_bytes_since_reset() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->peak - state_->base;
}

bool reset_resident_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  if (!clear) return false;
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

double resident_peak_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0.0;
}

}  // namespace atman
