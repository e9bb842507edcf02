// The `atman` command as users start it: sets the OpenMP wait in the
// environment, then runs the real program, atman-core, from the same folder.
//
// libgomp (shared by LibTorch and OpenBLAS) reads GOMP_SPINCOUNT once, when
// it is loaded, before main(); the program that links LibTorch cannot set it
// for itself without starting again, which repeats the dynamic loader's
// relocation of LibTorch (0.28 s of every command). This launcher links only
// the C and C++ runtimes, so the exec costs about a millisecond. Rules
// (runner/wait_policy.h): GOMP_SPINCOUNT=10000 and the marker
// ATMAN_WAIT_POLICY_SET=1 are added unless OMP_WAIT_POLICY or GOMP_SPINCOUNT
// is set (the user's choice is kept) or ATMAN_KEEP_WAIT_POLICY is set to
// other than 0 (libgomp's default, e.g. to measure what the setting changes).

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "wait_policy.h"

int main(int /*argc*/, char** argv) {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    std::fprintf(stderr, "atman: error: cannot find the atman executable's folder (/proc/self/exe: %s)\n",
                 std::strerror(errno));
    return 127;
  }
  self[n] = '\0';
  std::string core = self;
  core = core.substr(0, core.rfind('/') + 1) + "atman-core";
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr &&
      !atman::runner::keep_requested(std::getenv(atman::runner::kKeepWaitPolicy))) {
    setenv("GOMP_SPINCOUNT", atman::runner::kSpinCount, 1);
    setenv(atman::runner::kWaitPolicyMarker, "1", 1);
  }
  execv(core.c_str(), argv);
  std::fprintf(stderr, "atman: error: cannot run %s: %s\n", core.c_str(), std::strerror(errno));
  return 127;
}
