#pragma once
// Peak memory of one explanation, for `atman eval`.
//
// Two figures, both per (item, method):
//   tracked peak  the largest number of bytes alive in LibTorch's CPU
//                 allocator (c10's DefaultCPUAllocator: every tensor's
//                 storage, autograd's saved tensors included) during the
//                 call, minus those alive when it started. AllocationMeter
//                 receives every allocation and free through c10's memory
//                 reporting hook (c10::MemoryReportingInfoBase, the one the
//                 PyTorch profiler's profile_memory uses), installed for the
//                 calling thread and the threads LibTorch propagates it to.
//                 This is the figure compared between methods: it does not
//                 depend on what malloc keeps or returns.
//   resident peak the process's resident-set high-water mark (VmHWM) after
//                 the call, reset before it (writing 5 to
//                 /proc/self/clear_refs); includes the model's weights, the
//                 libraries and pages malloc kept from earlier calls.
//
// Usage:
//   AllocationMeter meter;            // install once, before the model is loaded
//   meter.reset_peak();
//   run();
//   double mb = meter.peak_bytes_since_reset() / 1048576.0;

#include <cstdint>
#include <memory>

namespace atman {

class AllocationMeter {
 public:
  AllocationMeter();
  ~AllocationMeter();
  AllocationMeter(const AllocationMeter&) = delete;
  AllocationMeter& operator=(const AllocationMeter&) = delete;

  /// Starts a new measurement: the peak becomes the bytes alive now.
  void reset_peak();
  /// Bytes alive now (allocated while a meter was installed).
  int64_t live_bytes() const;
  /// Largest bytes alive since reset_peak(), minus those alive at reset_peak().
  int64_t peak_bytes_since_reset() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

/// Resets the process's resident high-water mark to its current resident
/// size; false when the kernel does not allow it (then resident_peak_mb is
/// the peak since the process started).
bool reset_resident_peak();
/// VmHWM in MB (0 when /proc is unavailable).
double resident_peak_mb();

}  // namespace atman
