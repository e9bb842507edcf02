#pragma once
// How many CPUs this process may use, and why (docs/speed.md#threads).
//
// The CPUs of the process's affinity mask (sched_getaffinity: taskset,
// cpusets, container CPU sets), further limited by a cgroup CPU quota
// (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the
// smallest on the path from the process's cgroup up to its hierarchy's
// root), rounded down, at least 1. `--threads 0` means that many LibTorch
// threads; on a container limited to 2 CPUs of a 64-core host it is 2, not 64.
//
// The reading functions take a root folder ("/" for the running system) so
// that tests can point them at a fake /proc and /sys/fs/cgroup tree. A file
// that is missing is normal (no quota); a file that cannot be parsed is
// ignored with a note (CpuBudget::notes, for --verbose), never an error.
//
// On a shared machine the CPUs may be taken by others: `procs_running` of
// /proc/stat (the least of a few samples, so a task that runs for a moment
// does not count) says how many tasks besides this one are running, and the
// default count leaves those CPUs to them. With two busy processes on two
// cores, two threads wait for each other at every barrier and run 4x slower
// than one (docs/speed.md#threads-on-a-shared-machine). Setting
// ATMAN_THREADS_IGNORE_LOAD=1 turns that part off.
//
// Usage:
//   const atman::CpuBudget budget = atman::read_cpu_budget();    // "/"
//   const atman::ThreadChoice choice = atman::choose_threads(0, budget);
//   // choice.threads == budget.cpus; choice.why: "2: the CPUs this process may use (...)"
//   atman::set_threads(0);                                         // the same rule, applied to LibTorch

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace atman {

/// A cgroup CPU quota: `quota_us` of CPU time per `period_us` of wall time.
struct CpuQuota {
  int64_t quota_us = 0;
  int64_t period_us = 0;
  std::string file;  // the file (below the root) that set it, e.g. /sys/fs/cgroup/cpu.max
  double cpus() const { return period_us > 0 ? static_cast<double>(quota_us) / static_cast<double>(period_us) : 0.0; }
};

/// What was found about the CPUs this process may use.
struct CpuBudget {
  int64_t cpus = 1;           // min(affinity, floor(quota)), at least 1
  int64_t affinity_cpus = 0;  // CPUs in the affinity mask; 0 when it could not be read
  int64_t online_cpus = 0;    // std::thread::hardware_concurrency (0: unknown)
  std::optional<CpuQuota> quota;   // the smallest quota on the cgroup path, when there is one
  std::string cgroup_version;      // "v1", "v2", "v1+v2" or "" (no cgroup CPU controller found)
  int64_t others_running = -1;     // tasks running besides this one (/proc/stat); -1: unknown or ignored
  std::vector<std::string> notes;  // files ignored and why, one line each
  /// One line: "2 (affinity mask 2 CPUs of 2 online, no cgroup CPU quota)".
  std::string describe() const;
};

/// Reads the budget below `root` ("/": the running process). For "/" the
/// affinity is sched_getaffinity; for another root, `Cpus_allowed_list` of
/// root/proc/self/status. The cgroup is found through root/proc/self/cgroup
/// and root/proc/self/mountinfo (default mount points when it has none).
CpuBudget read_cpu_budget(const std::string& root = "/");

/// CPUs in the affinity mask (see read_cpu_budget); 0 when unknown, with a note.
int64_t read_affinity_cpus(const std::string& root = "/", std::vector<std::string>* notes = nullptr);
/// The smallest cgroup CPU quota on the process's cgroup path, if any;
/// `version` gets "v1", "v2", "v1+v2" or "". Malformed files add a note.
std::optional<CpuQuota> read_cgroup_cpu_quota(const std::string& root = "/", std::vector<std::string>* notes = nullptr,
                                              std::string* version = nullptr);

/// Tasks running besides the reader: `procs_running` of root/proc/stat minus
/// one, the least of `samples` reads 1 ms apart; -1 when it is missing or
/// malformed (with a note) or when ATMAN_THREADS_IGNORE_LOAD is set to other than 0.
int64_t read_others_running(const std::string& root = "/", int samples = 3, std::vector<std::string>* notes = nullptr);
/// The `procs_running` value of a /proc/stat text; -1 when absent or malformed.
int64_t parse_procs_running(const std::string& stat_text);

/// Parses a Linux CPU list ("0-3,8,10-11") into a count; -1 when malformed.
int64_t count_cpu_list(const std::string& text);

/// The thread count and why, for --verbose.
struct ThreadChoice {
  int64_t threads = 1;
  std::string why;
};
/// `requested` > 0: that many (as asked). 0: budget.cpus divided among the
/// `local_ranks` processes that share this host's CPUs, rounded down, and no
/// more than the online CPUs that the other running tasks leave free; at
/// least 1.
ThreadChoice choose_threads(int64_t requested, const CpuBudget& budget, int64_t local_ranks = 1);

/// The one place LibTorch's intra-op thread count is set: choose_threads on
/// read_cpu_budget(), applied with at::set_num_threads; returns the number set.
/// Throws std::invalid_argument for requested < 0 or local_ranks < 1.
int64_t set_threads(int64_t requested, int64_t local_ranks = 1);

/// Keeps the caller's LibTorch thread count and restores it on destruction
/// (the op library: Python users keep their torch.get_num_threads()).
class ThreadCountRestorer {
 public:
  ThreadCountRestorer();
  ~ThreadCountRestorer();
  ThreadCountRestorer(const ThreadCountRestorer&) = delete;
  ThreadCountRestorer& operator=(const ThreadCountRestorer&) = delete;

 private:
  int threads_;
};

}  // namespace atman
