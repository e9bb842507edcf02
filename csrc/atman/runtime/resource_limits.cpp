#include "atman/runtime/resource_limits.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include <fmt/format.h>

namespace atman {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// A "Key:   123 kB" line of a /proc file, in bytes; -1 when absent.
int64_t proc_kb_field(const char* file, const char* key) {
  std::ifstream in(file);
  std::string line;
  const size_t key_len = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, key_len, key) == 0 && line.size() > key_len && line[key_len] == ':') {
      long long kb = -1;
      if (std::sscanf(line.c_str() + key_len + 1, "%lld", &kb) == 1 && kb >= 0) return kb * 1024;
    }
  }
  return -1;
}

std::string mb(int64_t bytes) {
  if (bytes >= std::numeric_limits<int64_t>::max() / 2) return "an unbounded amount of memory";
  return fmt::format("{} MB", (bytes + kMiB - 1) / kMiB);
}

int64_t mul(int64_t a, int64_t b) { return saturating_mul(a, b); }
int64_t add(int64_t a, int64_t b) { return saturating_add(a, b); }

}  // namespace

int64_t saturating_mul(int64_t a, int64_t b) {
  if (a <= 0 || b <= 0) return 0;
  if (a > std::numeric_limits<int64_t>::max() / b) return std::numeric_limits<int64_t>::max();
  return a * b;
}

int64_t saturating_add(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b ? std::numeric_limits<int64_t>::max() : a + b;
}

int64_t resident_bytes() { return std::max<int64_t>(0, proc_kb_field("/proc/self/status", "VmRSS")); }

int64_t available_bytes() { return proc_kb_field("/proc/meminfo", "MemAvailable"); }

int64_t SweepMemory::bytes(int64_t batch_size) const { return add(fixed_bytes, mul(per_row_bytes, batch_size)); }

int64_t estimate_model_load_bytes(int64_t file_bytes) { return add(mul(2, file_bytes), 16 * kMiB); }

MemoryBudget::MemoryBudget(int64_t max_memory_mb) {
  if (max_memory_mb < 0) throw std::invalid_argument(fmt::format("max memory must be >= 0 MB, got {}", max_memory_mb));
  if (max_memory_mb > 0) {
    explicit_ = true;
    limit_bytes_ = mul(max_memory_mb, kMiB);
  } else {
    const int64_t available = available_bytes();
    limit_bytes_ = available < 0 ? std::numeric_limits<int64_t>::max() : add(resident_bytes(), available);
  }
}

int64_t MemoryBudget::remaining_bytes() const { return std::max<int64_t>(0, limit_bytes_ - resident_bytes()); }

void MemoryBudget::require(int64_t bytes, const std::string& what) const {
  const int64_t resident = resident_bytes();
  if (add(resident, bytes) <= limit_bytes_) return;
  const int64_t left = std::max<int64_t>(0, limit_bytes_ - resident);
  if (explicit_) {
    throw ResourceLimitError(fmt::format("{} needs about {} more, but --max-memory {} leaves {} (the process holds {})",
                                         what, mb(bytes), mb(limit_bytes_), mb(left), mb(resident)));
  }
  throw ResourceLimitError(fmt::format("{} needs about {} more, but this machine has only {} available", what,
                                       mb(bytes), mb(left)));
}

int64_t MemoryBudget::largest_batch(const SweepMemory& sweep, int64_t cap) const {
  const int64_t left = remaining_bytes();
  if (sweep.per_row_bytes <= 0) return cap;
  if (sweep.fixed_bytes >= left) return 0;
  return std::clamp<int64_t>((left - sweep.fixed_bytes) / sweep.per_row_bytes, 0, cap);
}

}  // namespace atman
