// End-to-end tests of threads on a shared machine (docs/speed.md#threads):
//  - a process limited to one CPU (taskset -c 0) explains with 1 thread and says why;
//  - with every CPU busy with other work, the default is 1 thread;
//  - the binary re-executes itself with GOMP_SPINCOUNT=10000 before libgomp
//    reads it, unless ATMAN_KEEP_WAIT_POLICY=1 or the user chose a policy;
//  - the numbers are bit-identical with and without that fix.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "atman/runtime/cpu_budget.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::read_file;
using testing::run_atman_with;
using testing::RunResult;
using testing::TempDir;
using testing::test_model;


bool have_program(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::vector<std::string> explain_args(const std::string& json, const std::string& threads) {
  return {"explain",   "--model", test_model("text_only.pt"), "--prompt", "Alice lives in Paris. Bob likes tea.",
          "--target",  " tea",    "--threads",                  threads,    "--quiet",
          "--verbose", "--json",  json};
}

// Without the environment variables the fix looks at.
const char kClean[] =
    "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u ATMAN_WAIT_POLICY_SET -u ATMAN_KEEP_WAIT_POLICY "
    "-u ATMAN_THREADS_IGNORE_LOAD";

// One busy loop per online CPU, killed when this object goes away.
class BusyLoops {
 public:
  explicit BusyLoops(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        for (volatile unsigned long spin = 0;; spin = spin + 1) {
        }
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~BusyLoops() {
    for (const pid_t pid : pids_) kill(pid, SIGKILL);
    for (const pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  BusyLoops(const BusyLoops&) = delete;
  BusyLoops& operator=(const BusyLoops&) = delete;
  size_t size() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

TEST(E2eThreadsTest, OneCpuByAffinityMeansOneThread) {
  if (!have_program("taskset")) GTEST_SKIP() << "taskset is not installed (util-linux): affinity not tested";
  TempDir tmp;
  const RunResult r = run_atman_with(std::string(kClean) + " taskset -c 0", explain_args(tmp.path("e.json"), "0"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("atman: threads: 1: the CPUs this process may use, 1 CPU (affinity mask 1 CPU"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp.path("e.json")))["stats"]["threads"], 1);
}

// Every online CPU busy with another task: the default leaves them be and
// runs one thread; ATMAN_THREADS_IGNORE_LOAD=1 takes them all anyway.
TEST(E2eThreadsTest, BusyCpusLeaveOneThread) {
  const unsigned cpus = std::thread::hardware_concurrency();
  if (cpus < 2 || cpus > 16) GTEST_SKIP() << cpus << " online CPUs: not keeping them all busy for this test";
  TempDir tmp;
  const BusyLoops loops(cpus);
  ASSERT_EQ(loops.size(), cpus);
  const RunResult r = run_atman_with(kClean, explain_args(tmp.path("e.json"), "0"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("atman: threads: 1: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("other tasks are running on " + std::to_string(cpus) + " online CPUs"), std::string::npos)
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp.path("e.json")))["stats"]["threads"], 1);
  const RunResult all =
      run_atman_with(std::string(kClean) + " ATMAN_THREADS_IGNORE_LOAD=1", explain_args(tmp.path("all.json"), "0"));
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.err.find("other tasks are running"), std::string::npos) << all.err;
  EXPECT_NE(all.err.find("atman: threads: "), std::string::npos) << all.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp.path("all.json")))["stats"]["threads"], read_cpu_budget().cpus);
}

// The launcher without atman-core beside it: one line and exit 127.
TEST(E2eThreadsTest, LauncherWithoutTheProgramSaysSo) {
  TempDir tmp;
  const std::filesystem::path copy = tmp.dir() / "atman";
  std::filesystem::copy_file(ATMAN_BINARY, copy);
  const RunResult r = testing::run_program("", copy.string(), {"--version"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.err, "atman: error: cannot run " + (tmp.dir() / "atman-core").string() + ": No such file or directory\n");
  EXPECT_EQ(r.out, "");
}

// bench --background starts its runs through the launcher; without one beside
// atman-core it says so before any run; its flags are range-checked.
TEST(E2eThreadsTest, BackgroundBenchNeedsTheLauncherAndChecksItsFlags) {
  TempDir tmp;
  const std::filesystem::path core = std::filesystem::path(ATMAN_BINARY).parent_path() / "atman-core";
  const std::filesystem::path copy = tmp.dir() / "atman-core";
  std::filesystem::copy_file(core, copy);
  const std::vector<std::string> args = {"bench", "--model", test_model("text_only.pt"), "--prompt",
                                         "Alice lives in Paris.", "--target", " Paris", "--background", "0"};
  const RunResult alone = testing::run_program("", copy.string(), args);
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_EQ(alone.err, "atman: error: atman bench: the atman launcher is missing beside " + copy.string() +
                           " (looked for " + (tmp.dir() / "atman").string() + ")\n");
  std::vector<std::string> too_many = args;
  too_many.back() = "65";
  const RunResult r = run_atman_with(kClean, too_many);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--background must be in [0, 64], got 65"), std::string::npos) << r.err;
}

TEST(E2eThreadsTest, VerboseNamesTheWaitPolicy) {
  TempDir tmp;
  const RunResult fixed = run_atman_with(kClean, explain_args(tmp.path("a.json"), "2"));
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_NE(fixed.err.find("atman: OpenMP wait: GOMP_SPINCOUNT=10000 (set by atman"), std::string::npos) << fixed.err;
  EXPECT_NE(fixed.err.find("atman: threads: 2 (as requested)"), std::string::npos) << fixed.err;
  const RunResult kept =
      run_atman_with(std::string(kClean) + " ATMAN_KEEP_WAIT_POLICY=1", explain_args(tmp.path("b.json"), "2"));
  ASSERT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_NE(kept.err.find("libgomp's default, spinning before sleeping (ATMAN_KEEP_WAIT_POLICY is set)"),
            std::string::npos)
      << kept.err;
  const RunResult users =
      run_atman_with(std::string(kClean) + " OMP_WAIT_POLICY=ACTIVE", explain_args(tmp.path("c.json"), "2"));
  ASSERT_EQ(users.exit_code, 0) << users.err;
  EXPECT_NE(users.err.find("from the environment (OMP_WAIT_POLICY=ACTIVE)"), std::string::npos) << users.err;
}

// libgomp prints the values it read at start-up (OMP_DISPLAY_ENV): the spin
// count atman sets, 10000, against libgomp's default 300000.
TEST(E2eThreadsTest, LibgompReadsTheShortSpin) {
  const RunResult fixed = run_atman_with(std::string(kClean) + " OMP_DISPLAY_ENV=verbose", {"--version"});
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  if (fixed.err.find("GOMP_SPINCOUNT") == std::string::npos) {
    GTEST_SKIP() << "the OpenMP runtime is not libgomp (no GOMP_SPINCOUNT in OMP_DISPLAY_ENV): " << fixed.err;
  }
  EXPECT_NE(fixed.err.find("GOMP_SPINCOUNT = '10000'"), std::string::npos) << fixed.err;
  // Once: the re-executed process does not re-execute again (one display).
  EXPECT_EQ(fixed.err.find("OPENMP DISPLAY ENVIRONMENT BEGIN"), fixed.err.rfind("OPENMP DISPLAY ENVIRONMENT BEGIN"));
  EXPECT_EQ(fixed.out, "atman 0.1\n");
  const RunResult kept =
      run_atman_with(std::string(kClean) + " ATMAN_KEEP_WAIT_POLICY=1 OMP_DISPLAY_ENV=verbose", {"--version"});
  EXPECT_NE(kept.err.find("GOMP_SPINCOUNT = '300000'"), std::string::npos) << kept.err;
}

TEST(E2eThreadsTest, NumbersAreBitIdenticalWithAndWithoutTheWaitPolicyFix) {
  TempDir tmp;
  for (const char* threads : {"1", "2"}) {
    SCOPED_TRACE(std::string("--threads ") + threads);
    const RunResult fixed = run_atman_with(kClean, explain_args(tmp.path("fixed.json"), threads));
    ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
    ASSERT_NE(fixed.err.find("GOMP_SPINCOUNT=10000 (set by atman"), std::string::npos) << fixed.err;
    const RunResult kept =
        run_atman_with(std::string(kClean) + " ATMAN_KEEP_WAIT_POLICY=1", explain_args(tmp.path("kept.json"), threads));
    ASSERT_EQ(kept.exit_code, 0) << kept.err;
    nlohmann::json a = nlohmann::json::parse(read_file(tmp.path("fixed.json")));
    nlohmann::json b = nlohmann::json::parse(read_file(tmp.path("kept.json")));
    EXPECT_EQ(a["stats"]["threads"], b["stats"]["threads"]);
    a.erase("stats");
    b.erase("stats");
    EXPECT_EQ(a.dump(), b.dump());  // every relevance, bit for bit (JSON keeps 17 digits)
  }
}

}  // namespace
}  // namespace atman
