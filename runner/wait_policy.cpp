// See wait_policy.h (docs/speed.md#threads-on-a-shared-machine).

#include "wait_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace atman::runner {
namespace {

// The value of `name` in `envp`, or nullptr. Plain C: this runs before libc
// and libstdc++ have run their initialisers.
const char* find_variable(char** envp, const char* name) {
  const size_t n = std::strlen(name);
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  }
  return nullptr;
}

bool keep_requested(const char* value) { return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0; }

void reexecute_with_short_spin(int /*argc*/, char** argv, char** envp) {
  if (argv == nullptr || argv[0] == nullptr) return;
  if (find_variable(envp, "OMP_WAIT_POLICY") != nullptr || find_variable(envp, "GOMP_SPINCOUNT") != nullptr ||
      find_variable(envp, kWaitPolicyMarker) != nullptr || keep_requested(find_variable(envp, kKeepWaitPolicy))) {
    return;
  }
  size_t n = 0;
  while (envp != nullptr && envp[n] != nullptr) ++n;
  char** env = static_cast<char**>(std::malloc((n + 3) * sizeof(char*)));
  if (env == nullptr) return;
  for (size_t i = 0; i < n; ++i) env[i] = envp[i];
  static char policy[] = "GOMP_SPINCOUNT=10000";  // kSpinCount
  static char marker[] = "ATMAN_WAIT_POLICY_SET=1";
  env[n] = policy;
  env[n + 1] = marker;
  env[n + 2] = nullptr;
  execve("/proc/self/exe", argv, env);
  std::free(env);  // no /proc or exec refused: run with the runtime's default
}

// Runs before every shared library's initialiser, libgomp's included.
__attribute__((section(".preinit_array"), used)) void (*const kReexecute)(int, char**, char**) =
    reexecute_with_short_spin;

}  // namespace

std::string wait_policy_description() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  const char* marker = std::getenv(kWaitPolicyMarker);
  if (marker != nullptr && policy == nullptr && spin != nullptr && std::strcmp(spin, kSpinCount) == 0) {
    return fmt::format("OpenMP wait: GOMP_SPINCOUNT={} (set by atman: waiting threads spin briefly, then sleep; {}=1 "
                       "keeps libgomp's default)",
                       kSpinCount, kKeepWaitPolicy);
  }
  if (policy != nullptr || spin != nullptr) {
    std::string from;
    if (policy != nullptr) from += fmt::format("OMP_WAIT_POLICY={}", policy);
    if (spin != nullptr) from += fmt::format("{}GOMP_SPINCOUNT={}", from.empty() ? "" : ", ", spin);
    return fmt::format("OpenMP wait policy from the environment ({})", from);
  }
  if (keep_requested(std::getenv(kKeepWaitPolicy))) {
    return fmt::format("OpenMP wait policy: libgomp's default, spinning before sleeping ({} is set)", kKeepWaitPolicy);
  }
  return "OpenMP wait policy: libgomp's default, spinning before sleeping (the re-execution with "
         "GOMP_SPINCOUNT=10000 failed)";
}

}  // namespace atman::runner
