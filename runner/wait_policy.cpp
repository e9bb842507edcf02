// See wait_policy.h (docs/speed.md#threads-on-a-shared-machine).

#include "wait_policy.h"

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace atman::runner {

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
  return "OpenMP wait policy: libgomp's default, spinning before sleeping (atman-core was started without the "
         "atman launcher, which sets GOMP_SPINCOUNT=10000)";
}

}  // namespace atman::runner
