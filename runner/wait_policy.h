#pragma once
// The OpenMP wait policy of the `atman` process (docs/speed.md#threads-on-a-shared-machine).
//
// LibTorch and OpenBLAS share one libgomp. By default its threads spin up to
// 300,000 iterations at every barrier before they sleep; on a machine whose
// CPUs are busy with other work, the thread being waited for is often not
// running, and the spinning threads take the CPU it needs: the example's
// sweep went from 1.5 s to 155 s with two busy loops beside it (issue 17).
// GOMP_SPINCOUNT=10000 spins a thirtieth of that, a few microseconds, then
// sleeps: on a quiet machine within 2% of the default (OMP_WAIT_POLICY=PASSIVE,
// which sleeps at once, cost 20% there), and loaded close to PASSIVE
// (docs/speed.md#threads-on-a-shared-machine has the measurements).
//
// libgomp reads the variable when it is loaded, before main() runs (and a
// setenv() even in the executable's .preinit_array is undone when libc
// initialises its environment), so the `atman` users start is a small
// launcher (launcher.cpp) that sets it and runs atman-core, the program,
// with GOMP_SPINCOUNT=10000 and the marker ATMAN_WAIT_POLICY_SET=1 added, when:
//   - neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set (the user's choice is kept),
//   - ATMAN_KEEP_WAIT_POLICY is unset, empty or "0" (set it to 1 to keep
//     libgomp's default, e.g. to measure what the setting changes).
// The numbers do not change: the wait policy decides how threads wait, not
// how work is split.

#include <cstring>
#include <string>

namespace atman::runner {

/// Environment variables of the mechanism.
constexpr const char* kWaitPolicyMarker = "ATMAN_WAIT_POLICY_SET";
/// The spin count set (iterations before a waiting thread sleeps).
constexpr const char* kSpinCount = "10000";
constexpr const char* kKeepWaitPolicy = "ATMAN_KEEP_WAIT_POLICY";

/// One line for --verbose: the wait policy in force and who chose it.
std::string wait_policy_description();

/// Whether an ATMAN_KEEP_WAIT_POLICY value asks to keep libgomp's default
/// (set, not empty, not "0"). Inline: the launcher links no project code.
inline bool keep_requested(const char* value) {
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace atman::runner
