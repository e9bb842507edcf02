#include "atman/runtime/group_config.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

namespace atman {
namespace {

int64_t parse_env_int(const char* name, const char* text) {
  const std::string value = text;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (value.empty() || used != value.size()) {
    throw std::invalid_argument(fmt::format("{} must be an integer, got \"{}\"", name, value));
  }
  return v;
}

}  // namespace

std::string GroupConfig::describe() const {
  return fmt::format("rank {} of {} (local {} of {}), store {}:{} ({})", rank, world_size, local_rank,
                     local_world_size, master_addr, master_port,
                     agent_store ? "hosted by the launcher" : "hosted by rank 0");
}

void check_group_config(const GroupConfig& c) {
  if (c.world_size < 1) throw std::invalid_argument(fmt::format("WORLD_SIZE must be >= 1, got {}", c.world_size));
  if (c.rank < 0 || c.rank >= c.world_size) {
    throw std::invalid_argument(fmt::format("RANK {} is outside WORLD_SIZE {} (ranks are 0..{})", c.rank,
                                            c.world_size, c.world_size - 1));
  }
  if (c.local_world_size < 1 || c.local_world_size > c.world_size) {
    throw std::invalid_argument(fmt::format("LOCAL_WORLD_SIZE must be in [1, WORLD_SIZE {}], got {}", c.world_size,
                                            c.local_world_size));
  }
  if (c.local_rank < 0 || c.local_rank >= c.local_world_size) {
    throw std::invalid_argument(fmt::format("LOCAL_RANK {} is outside LOCAL_WORLD_SIZE {}", c.local_rank,
                                            c.local_world_size));
  }
  if (c.master_addr.empty()) throw std::invalid_argument("MASTER_ADDR is empty");
  if (c.master_port < 1 || c.master_port > 65535) {
    throw std::invalid_argument(fmt::format("MASTER_PORT must be in [1, 65535], got {}", c.master_port));
  }
  if (!std::isfinite(c.timeout_seconds) || c.timeout_seconds <= 0.0 || c.timeout_seconds > 86400.0) {
    throw std::invalid_argument(fmt::format("the timeout must be in (0, 86400] seconds, got {}", c.timeout_seconds));
  }
}

std::optional<GroupConfig> group_config_from_environment(const std::function<const char*(const char*)>& lookup) {
  auto get = [&](const char* name) -> const char* { return lookup ? lookup(name) : std::getenv(name); };
  const char* rank = get("RANK");
  const char* world = get("WORLD_SIZE");
  if (!rank && !world) return std::nullopt;
  if (!rank || !world) {
    throw std::invalid_argument(fmt::format("{} is set but {} is not: set both (torchrun does) or neither",
                                            rank ? "RANK" : "WORLD_SIZE", rank ? "WORLD_SIZE" : "RANK"));
  }
  GroupConfig c;
  c.rank = parse_env_int("RANK", rank);
  c.world_size = parse_env_int("WORLD_SIZE", world);
  const char* local_rank = get("LOCAL_RANK");
  const char* local_world = get("LOCAL_WORLD_SIZE");
  c.local_rank = local_rank ? parse_env_int("LOCAL_RANK", local_rank) : c.rank;
  c.local_world_size = local_world ? parse_env_int("LOCAL_WORLD_SIZE", local_world) : c.world_size;
  if (const char* addr = get("MASTER_ADDR")) c.master_addr = addr;
  if (const char* port = get("MASTER_PORT")) c.master_port = parse_env_int("MASTER_PORT", port);
  if (const char* agent = get("TORCHELASTIC_USE_AGENT_STORE")) c.agent_store = std::string(agent) == "True";
  if (const char* restart = get("TORCHELASTIC_RESTART_COUNT")) c.run_id = restart;
  check_group_config(c);
  return c;
}

}  // namespace atman
