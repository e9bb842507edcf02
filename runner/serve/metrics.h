#pragma once
// The figures of GET /metrics, in Prometheus' text format (version 0.0.4):
// requests by endpoint and status, forward passes, latency histogram,
// queue length and resident memory.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace atman::serve {

class Metrics {
 public:
  /// One finished request: its endpoint (the route's path), status and seconds.
  void record_request(const std::string& endpoint, int status, double seconds);
  void add_forward_passes(int64_t passes);

  /// The text of GET /metrics; `running` and `waiting` from the worker pool.
  std::string render(int64_t running, int64_t waiting) const;

  /// Upper bounds (seconds) of the latency histogram's buckets, +Inf apart.
  static constexpr std::array<double, 10> kLatencyBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, std::array<int64_t, kLatencyBuckets.size() + 1>> latency_counts_;  // +Inf last
  std::map<std::string, double> latency_sums_;
  int64_t forward_passes_ = 0;
};

/// This process's resident memory in bytes (/proc/self/statm), 0 if unknown.
int64_t resident_memory_bytes();

}  // namespace atman::serve
