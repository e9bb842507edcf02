#pragma once
// A process group for sharded runs (docs/distributed.md): join or describe a
// group from torchrun's environment or explicit values, over LibTorch's own
// c10d (a TCPStore for rendezvous and messages, ProcessGroupGloo for tensors).
//
// Store: under torchrun (TORCHELASTIC_USE_AGENT_STORE=True) the launcher
// hosts it on MASTER_ADDR:MASTER_PORT and every rank is a client; ranks
// started by hand have rank 0 host it there.
//
// Faults: every rank beats a heartbeat into the store from a thread of its
// own and watches the others'. A rank whose heartbeat stops for `timeout`
// (killed, stopped, its host unreachable), a rank that reports a failure
// (abort), and a store that does not answer for `timeout` end the group:
// the failure handler is called once with one line naming the rank and what
// happened (the runner prints it and exits), and every later call on the
// group throws GroupFailure with that line.
//
// Usage:
//   std::optional<GroupConfig> config = group_config_from_environment();  // RANK, WORLD_SIZE, ...
//   auto group = ProcessGroup::join(*config, [](const std::string& line) { ... });
//   group->check_same("model and input", fingerprint);       // throws on every rank when they differ
//   std::vector<at::Tensor> all = group->gather_rows(local);  // rank 0: one per rank; others: empty
//   group->finish();                                           // rank 0 waits for every rank's finish

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/runtime/group_config.h"

namespace atman {

/// A fault of the group (a peer failed, hung or cannot be reached): the message names the rank.
struct GroupFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ProcessGroup {
 public:
  using FailureHandler = std::function<void(const std::string& line)>;

  /// Connects to (or, rank 0 started by hand, hosts) the store, waits until
  /// every rank has joined (within the timeout: else "rank N did not join"),
  /// then builds the Gloo group. Throws std::runtime_error with one line.
  static std::unique_ptr<ProcessGroup> join(const GroupConfig& config, FailureHandler on_failure = {});
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  const GroupConfig& config() const;
  int64_t rank() const { return config().rank; }
  int64_t world_size() const { return config().world_size; }
  bool is_root() const { return rank() == 0; }

  /// Every rank's `value` in rank order (through the store; `tag` names the
  /// exchange and must be the same on every rank and new for each call).
  std::vector<std::string> exchange(const std::string& tag, const std::string& value);
  /// exchange without waiting: posts `value` (once per tag) and returns every
  /// rank's when all have posted, else nullopt.
  std::optional<std::vector<std::string>> try_exchange(const std::string& tag, const std::string& value);
  /// Throws on every rank when any rank's fingerprint differs from rank 0's:
  /// "ranks disagree on WHAT: rank 1 has 0123... where rank 0 has 4567...".
  void check_same(const std::string& what, const std::string& fingerprint);
  /// The smallest `value` over the ranks.
  int64_t min_over_ranks(const std::string& tag, int64_t value);
  /// Rank 0's `value` on every rank.
  std::string broadcast(const std::string& tag, const std::string& value);

  /// Gloo gather to rank 0 of 2-D float64 tensors whose first dimension may
  /// differ between ranks (same second dimension): rank 0 gets one tensor per
  /// rank, rank order; the others get an empty vector.
  std::vector<at::Tensor> gather_rows(const std::string& tag, const at::Tensor& local);

  /// True for the first rank that claims `key` (work dealt on demand).
  bool claim(const std::string& key);
  /// Queues `message` for rank 0 (not rank 0 itself).
  void send_to_root(const std::string& message);
  /// Rank 0: the messages queued since the last call, rank by rank, each
  /// rank's in the order sent. Does not block.
  std::vector<std::string> receive_at_root();

  /// Tells every rank that this one failed (best effort; never throws). The
  /// rank that hosts the store then waits until every rank has aborted too,
  /// at most min(timeout, 3 s), so that none loses the store mid-read.
  void abort(const std::string& line) noexcept;
  /// This rank is done: the others stop watching it. Rank 0 first waits until
  /// every rank has finished (so that the store it may host outlives them).
  void finish();
  /// Throws GroupFailure when the group has failed.
  void check() const;

 private:
  struct State;
  explicit ProcessGroup(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace atman
