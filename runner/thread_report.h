#pragma once
// --verbose lines about threads (docs/speed.md#threads): the thread count and
// why, the files ignored while finding it, and the OpenMP wait policy.
//
//   atman: threads: 2: the CPUs this process may use, 2 CPUs (affinity mask 2 CPUs of 2 online; no cgroup v1 CPU quota)
//   atman: note: /sys/fs/cgroup/cpu.max ignored: expected "QUOTA PERIOD" or "max PERIOD", got "abc"
//   atman: OpenMP wait: GOMP_SPINCOUNT=10000 (set by atman: ...)

#include <cstdint>
#include <string>

namespace atman::runner {

/// Prints the lines above to stderr for `requested` threads (the --threads
/// value) and `local_ranks` processes sharing this host.
void print_thread_choice(int64_t requested, int64_t local_ranks = 1);

/// The 1, 5 and 15 minute load averages of /proc/loadavg ("0.52 0.61 0.70"),
/// or "unknown", for benchmark headers.
std::string load_average();

}  // namespace atman::runner
