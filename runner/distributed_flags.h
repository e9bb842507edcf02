#pragma once
// Running a command as one rank of a process group (docs/distributed.md):
// the --distributed flags, torchrun's environment, --processes N, and the
// failure handler that ends this rank with one line.

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "atman/runtime/distributed.h"

namespace CLI {
class App;
}

namespace atman::runner {

struct DistributedArgs {
  bool distributed = false;  // --distributed: the flags below (defaults: torchrun's variables, else one host)
  int64_t rank = -1;
  int64_t world_size = -1;
  int64_t local_rank = -1;
  int64_t local_world_size = -1;
  std::string master_addr;
  int64_t master_port = -1;
  double timeout = kDefaultGroupTimeoutSeconds;
  int64_t processes = 0;  // --processes N: start N ranks on this host
};

/// Adds --distributed, --rank, --world-size, --local-rank, --local-world-size,
/// --master-addr, --master-port, --timeout and --processes to `sub`.
void add_distributed_flags(CLI::App* sub, DistributedArgs& args);

/// This run's group: the --distributed flags over torchrun's variables;
/// nullopt for one process (and WORLD_SIZE 1). Throws UsageError for flags
/// without --distributed and std::invalid_argument for inconsistent values.
std::optional<GroupConfig> resolve_group(const DistributedArgs& args);

/// Joins the group; when the group fails later, this rank prints
/// "atman: error: LINE" and exits 1 at once (from the watching thread).
std::unique_ptr<ProcessGroup> join_group(const GroupConfig& config);

/// --processes N: runs this same command line (without --processes) as
/// ranks 0..N-1 on this host (loopback, a free port) and waits for them;
/// returns the first non-zero exit status, else 0.
int run_processes(const DistributedArgs& args);

/// LibTorch threads of one rank for --threads `requested` (0: this
/// process's CPUs divided among the group's ranks on this host).
int64_t rank_threads(int64_t requested, const std::optional<GroupConfig>& group);

/// "rank N failed: WHAT" (first line).
std::string rank_failure_line(int64_t rank, const std::exception& e);

/// Runs `body`; when it throws, tells the group that this rank failed
/// ("rank N failed: ...") and rethrows.
template <typename F>
auto as_rank(ProcessGroup* group, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    if (group) group->abort(rank_failure_line(group->rank(), e));
    throw;
  }
}
}  // namespace atman::runner
