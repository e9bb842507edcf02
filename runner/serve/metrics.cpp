#include "metrics.h"

#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

namespace atman::serve {

void Metrics::record_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{endpoint, status}];
  auto& counts = latency_counts_[endpoint];
  size_t bucket = 0;
  while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket]) ++bucket;
  ++counts[bucket];
  latency_sums_[endpoint] += seconds;
}

void Metrics::add_forward_passes(int64_t passes) {
  std::lock_guard<std::mutex> lock(mutex_);
  forward_passes_ += passes;
}

std::string Metrics::render(int64_t running, int64_t waiting) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += "# HELP atman_requests_total Requests answered, by endpoint and HTTP status.\n";
  out += "# TYPE atman_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out += fmt::format("atman_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
  }
  out += "# HELP atman_request_seconds Latency of answered requests.\n";
  out += "# TYPE atman_request_seconds histogram\n";
  for (const auto& [endpoint, counts] : latency_counts_) {
    int64_t cumulative = 0;
    for (size_t b = 0; b < counts.size(); ++b) {
      cumulative += counts[b];
      const std::string le = b < kLatencyBuckets.size() ? fmt::format("{}", kLatencyBuckets[b]) : "+Inf";
      out += fmt::format("atman_request_seconds_bucket{{endpoint=\"{}\",le=\"{}\"}} {}\n", endpoint, le, cumulative);
    }
    out += fmt::format("atman_request_seconds_sum{{endpoint=\"{}\"}} {}\n", endpoint, latency_sums_.at(endpoint));
    out += fmt::format("atman_request_seconds_count{{endpoint=\"{}\"}} {}\n", endpoint, cumulative);
  }
  out += "# HELP atman_forward_passes_total Forward passes run by explanations.\n";
  out += "# TYPE atman_forward_passes_total counter\n";
  out += fmt::format("atman_forward_passes_total {}\n", forward_passes_);
  out += "# HELP atman_requests_running Requests holding a worker.\n# TYPE atman_requests_running gauge\n";
  out += fmt::format("atman_requests_running {}\n", running);
  out += "# HELP atman_queue_length Requests waiting for a worker.\n# TYPE atman_queue_length gauge\n";
  out += fmt::format("atman_queue_length {}\n", waiting);
  out += "# HELP atman_resident_memory_bytes Resident memory of the server process.\n";
  out += "# TYPE atman_resident_memory_bytes gauge\n";
  out += fmt::format("atman_resident_memory_bytes {}\n", resident_memory_bytes());
  return out;
}

int64_t resident_memory_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace atman::serve
