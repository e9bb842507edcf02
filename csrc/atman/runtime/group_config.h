#pragma once
// Where a process stands in a sharded run (docs/distributed.md): its rank,
// the group's size and the store's address, from torchrun's environment or
// from explicit values, checked before any connection is made.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace atman {

/// Where this process stands in a group.
struct GroupConfig {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  int64_t local_world_size = 1;  // ranks on this host (they share its CPUs)
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  bool agent_store = false;       // torchrun hosts the store: rank 0 is a client too
  double timeout_seconds = 300.0;
  std::string run_id = "0";       // prefixes the store's keys (torchrun's restart count)
  /// "rank 1 of 2 (local 1 of 2), store 127.0.0.1:29500 (hosted by rank 0)".
  std::string describe() const;
};

/// Default of --timeout: how long a silent rank or store is waited for.
constexpr double kDefaultGroupTimeoutSeconds = 300.0;

/// Checks the values (WORLD_SIZE >= 1, 0 <= RANK < WORLD_SIZE, local values
/// likewise, port in 1..65535, timeout > 0, master address not empty);
/// throws std::invalid_argument with one line naming the variable.
void check_group_config(const GroupConfig& config);

/// torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE,
/// TORCHELASTIC_RESTART_COUNT) through `lookup` (getenv by default);
/// nullopt when neither RANK nor WORLD_SIZE is set. Throws
/// std::invalid_argument for a value that is not a number, one without the
/// other, or values that check_group_config refuses.
std::optional<GroupConfig> group_config_from_environment(
    const std::function<const char*(const char*)>& lookup = {});

}  // namespace atman
