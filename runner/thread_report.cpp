#include "thread_report.h"

#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "atman/runtime/cpu_budget.h"
#include "wait_policy.h"

namespace atman::runner {

void print_thread_choice(int64_t requested, int64_t local_ranks) {
  const CpuBudget budget = read_cpu_budget();
  const ThreadChoice choice = choose_threads(requested, budget, local_ranks);
  std::fprintf(stderr, "atman: threads: %s\n", choice.why.c_str());
  for (const std::string& note : budget.notes) std::fprintf(stderr, "atman: note: %s\n", note.c_str());
  std::fprintf(stderr, "atman: %s\n", wait_policy_description().c_str());
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return in ? fmt::format("{} {} {}", a, b, c) : "unknown";
}

}  // namespace atman::runner
