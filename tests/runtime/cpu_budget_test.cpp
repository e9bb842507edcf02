// The thread rule (runtime/cpu_budget.h) against fake /proc and cgroup trees:
// affinity only, cgroup v1 and v2 quotas, "max" (no quota), nested quotas,
// container mounts, and malformed files (ignored with a note, never an error).
#include "atman/runtime/cpu_budget.h"

#include <cstdlib>
#include <filesystem>
#include <string>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::TempDir;

// A fake root: files written below it at absolute-looking paths.
class FakeTree {
 public:
  void file(const std::string& path, const std::string& text) {
    const std::filesystem::path p = tmp_.dir() / path.substr(1);
    std::filesystem::create_directories(p.parent_path());
    testing::write_file(p.string(), text);
  }
  void affinity(const std::string& list) {
    file("/proc/self/status", "Name:\tatman\nCpus_allowed:\tff\nCpus_allowed_list:\t" + list + "\nMems_allowed:\t1\n");
  }
  std::string root() const { return tmp_.dir().string(); }

 private:
  TempDir tmp_;
};

const char kV2Mount[] = "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n";
const char kV1Mounts[] =
    "31 24 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
    "32 24 0:28 / /sys/fs/cgroup/memory rw,nosuid shared:6 - cgroup cgroup rw,memory\n";

bool has_note(const CpuBudget& b, const std::string& part) {
  for (const std::string& n : b.notes) {
    if (n.find(part) != std::string::npos) return true;
  }
  return false;
}

TEST(CpuBudgetTest, AffinityOnly) {
  FakeTree t;
  t.affinity("0-3");
  t.file("/proc/self/cgroup", "0::/user.slice/session-1.scope\n");
  t.file("/proc/self/mountinfo", kV2Mount);
  t.file("/sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
  const CpuBudget b = read_cpu_budget(t.root());
  EXPECT_EQ(b.affinity_cpus, 4);
  EXPECT_FALSE(b.quota.has_value());
  EXPECT_EQ(b.cpus, 4);
  EXPECT_TRUE(b.notes.empty()) << b.notes.front();
  EXPECT_NE(b.describe().find("affinity mask 4 CPUs"), std::string::npos) << b.describe();
  EXPECT_NE(b.describe().find("no cgroup v2 CPU quota"), std::string::npos) << b.describe();
}

TEST(CpuBudgetTest, AffinityListWithGaps) {
  FakeTree t;
  t.affinity("0,2,4-5");
  const CpuBudget b = read_cpu_budget(t.root());  // no /proc/self/cgroup: a note, no quota
  EXPECT_EQ(b.cpus, 4);
  EXPECT_TRUE(has_note(b, "/proc/self/cgroup unreadable"));
}

TEST(CpuBudgetTest, QuotaV1RoundsDown) {
  FakeTree t;
  t.affinity("0-7");
  t.file("/proc/self/cgroup", "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n");
  t.file("/proc/self/mountinfo", std::string(kV1Mounts));
  t.file("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  const CpuBudget b = read_cpu_budget(t.root());
  ASSERT_TRUE(b.quota.has_value());
  EXPECT_DOUBLE_EQ(b.quota->cpus(), 2.5);
  EXPECT_EQ(b.quota->file, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us");
  EXPECT_EQ(b.cpus, 2);
  EXPECT_EQ(b.cgroup_version, "v1");
  EXPECT_TRUE(b.notes.empty()) << b.notes.front();
  EXPECT_NE(b.describe().find("cgroup v1 quota 2.50 CPUs"), std::string::npos) << b.describe();
  EXPECT_NE(b.describe().find("rounded down"), std::string::npos) << b.describe();
}

TEST(CpuBudgetTest, QuotaV1OfAParentCountsAndTheSmallestWins) {
  FakeTree t;
  t.affinity("0-7");
  t.file("/proc/self/cgroup", "4:cpu,cpuacct:/ci/job7\n");
  t.file("/proc/self/mountinfo", std::string(kV1Mounts));
  t.file("/sys/fs/cgroup/cpu,cpuacct/ci/job7/cpu.cfs_quota_us", "-1\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/ci/job7/cpu.cfs_period_us", "100000\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/ci/cpu.cfs_quota_us", "300000\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/ci/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(read_cpu_budget(t.root()).cpus, 3);
}

TEST(CpuBudgetTest, QuotaBelowOneCpuGivesOneThread) {
  FakeTree t;
  t.affinity("0-15");
  t.file("/proc/self/cgroup", "0::/slow\n");
  t.file("/proc/self/mountinfo", kV2Mount);
  t.file("/sys/fs/cgroup/slow/cpu.max", "50000 100000\n");
  const CpuBudget b = read_cpu_budget(t.root());
  EXPECT_EQ(b.cpus, 1);
  EXPECT_EQ(choose_threads(0, b).threads, 1);
}

TEST(CpuBudgetTest, QuotaV2) {
  FakeTree t;
  t.affinity("0-63");
  t.file("/proc/self/cgroup", "0::/kubepods/pod1/c1\n");
  t.file("/proc/self/mountinfo", kV2Mount);
  t.file("/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "200000 100000\n");
  t.file("/sys/fs/cgroup/kubepods/pod1/cpu.max", "max 100000\n");
  t.file("/sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
  const CpuBudget b = read_cpu_budget(t.root());
  EXPECT_EQ(b.affinity_cpus, 64);
  ASSERT_TRUE(b.quota.has_value());
  EXPECT_EQ(b.quota->file, "/sys/fs/cgroup/kubepods/pod1/c1/cpu.max");
  EXPECT_EQ(b.cpus, 2);
  EXPECT_EQ(b.cgroup_version, "v2");
  const ThreadChoice c = choose_threads(0, b);
  EXPECT_EQ(c.threads, 2);
  EXPECT_NE(c.why.find("cgroup v2 quota 2.00 CPUs (200000/100000 us in /sys/fs/cgroup/kubepods/pod1/c1/cpu.max)"),
            std::string::npos)
      << c.why;
}

TEST(CpuBudgetTest, QuotaV2MaxMeansNoQuota) {
  FakeTree t;
  t.affinity("0-5");
  t.file("/proc/self/cgroup", "0::/a\n");
  t.file("/proc/self/mountinfo", kV2Mount);
  t.file("/sys/fs/cgroup/a/cpu.max", "max 100000\n");
  const CpuBudget b = read_cpu_budget(t.root());
  EXPECT_FALSE(b.quota.has_value());
  EXPECT_EQ(b.cpus, 6);
  EXPECT_TRUE(b.notes.empty());
}

TEST(CpuBudgetTest, AffinityBelowQuotaWins) {
  FakeTree t;
  t.affinity("3");
  t.file("/proc/self/cgroup", "0::/a\n");
  t.file("/proc/self/mountinfo", kV2Mount);
  t.file("/sys/fs/cgroup/a/cpu.max", "400000 100000\n");
  EXPECT_EQ(read_cpu_budget(t.root()).cpus, 1);
}

TEST(CpuBudgetTest, ContainerMountOfItsOwnCgroup) {
  // Docker without a cgroup namespace: the container's cgroup is mounted as
  // /sys/fs/cgroup/cpu, and /proc/self/cgroup names its path on the host.
  FakeTree t;
  t.affinity("0-31");
  t.file("/proc/self/cgroup", "3:cpu,cpuacct:/docker/0123abcd\n");
  t.file("/proc/self/mountinfo",
         "40 35 0:30 /docker/0123abcd /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpuacct,cpu\n");
  t.file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "400000\n");
  t.file("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(read_cpu_budget(t.root()).cpus, 4);
}

TEST(CpuBudgetTest, DefaultMountPointsWithoutMountinfo) {
  FakeTree t;
  t.affinity("0-7");
  t.file("/proc/self/cgroup", "0::/job\n");
  t.file("/sys/fs/cgroup/job/cpu.max", "300000 100000\n");
  EXPECT_EQ(read_cpu_budget(t.root()).cpus, 3);
}

TEST(CpuBudgetTest, MountPointWithEscapedSpace) {
  FakeTree t;
  t.affinity("0-7");
  t.file("/proc/self/cgroup", "0::/j\n");
  t.file("/proc/self/mountinfo", "30 24 0:26 / /cg\\040root rw - cgroup2 cgroup2 rw\n");
  t.file("/cg root/j/cpu.max", "100000 100000\n");
  EXPECT_EQ(read_cpu_budget(t.root()).cpus, 1);
}

TEST(CpuBudgetTest, MalformedFilesAreIgnoredWithNotes) {
  FakeTree t;
  t.affinity("zz");
  t.file("/proc/self/cgroup", "garbage line\n4:cpu:/a\n0::/b\n");
  t.file("/proc/self/mountinfo", std::string(kV1Mounts) + "not a mountinfo line\n" + kV2Mount);
  t.file("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "lots\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "100000\n");
  t.file("/sys/fs/cgroup/b/cpu.max", "abc\n");
  CpuBudget b;
  EXPECT_NO_THROW(b = read_cpu_budget(t.root()));
  EXPECT_FALSE(b.quota.has_value());
  EXPECT_EQ(b.affinity_cpus, 0);
  EXPECT_GE(b.cpus, 1);  // the online CPUs
  EXPECT_TRUE(has_note(b, "Cpus_allowed_list \"zz\" is not a CPU list"));
  EXPECT_TRUE(has_note(b, "ignored line \"garbage line\""));
  EXPECT_TRUE(has_note(b, "/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us ignored"));
  EXPECT_TRUE(has_note(b, "/sys/fs/cgroup/b/cpu.max ignored: expected \"QUOTA PERIOD\" or \"max PERIOD\", got \"abc\""));
  for (const std::string& n : b.notes) EXPECT_EQ(n.find('\n'), std::string::npos) << n;
}

TEST(CpuBudgetTest, MalformedPeriodsAndZeroQuotaAreIgnored) {
  FakeTree t;
  t.affinity("0-3");
  t.file("/proc/self/cgroup", "4:cpu:/a\n0::/b\n");
  t.file("/proc/self/mountinfo", std::string(kV1Mounts) + kV2Mount);
  t.file("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "100000\n");
  t.file("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "0\n");
  t.file("/sys/fs/cgroup/b/cpu.max", "0 100000\n");
  const CpuBudget b = read_cpu_budget(t.root());
  EXPECT_FALSE(b.quota.has_value());
  EXPECT_EQ(b.cpus, 4);
  EXPECT_TRUE(has_note(b, "cpu.cfs_period_us ignored"));
  EXPECT_TRUE(has_note(b, "/sys/fs/cgroup/b/cpu.max ignored"));
}

TEST(CpuBudgetTest, ParentReferencesInTheCgroupPathAreRefused) {
  FakeTree t;
  t.affinity("0-3");
  t.file("/proc/self/cgroup", "0::/../../etc\n");
  const CpuBudget b = read_cpu_budget(t.root());
  EXPECT_EQ(b.cpus, 4);
  EXPECT_TRUE(has_note(b, "holds .."));
}

TEST(CpuBudgetTest, CountCpuList) {
  EXPECT_EQ(count_cpu_list("0"), 1);
  EXPECT_EQ(count_cpu_list("0-3"), 4);
  EXPECT_EQ(count_cpu_list("0-3,8,10-11\n"), 7);
  EXPECT_EQ(count_cpu_list(""), -1);
  EXPECT_EQ(count_cpu_list("3-1"), -1);
  EXPECT_EQ(count_cpu_list("a-b"), -1);
  EXPECT_EQ(count_cpu_list("1,,2"), -1);
}

// A budget of `cpus` CPUs, all of the machine's, with `others` other tasks running.
CpuBudget whole_machine(int64_t cpus, int64_t others = -1) {
  CpuBudget b;
  b.cpus = b.affinity_cpus = b.online_cpus = cpus;
  b.others_running = others;
  return b;
}

TEST(CpuBudgetTest, ChooseThreads) {
  const CpuBudget b = whole_machine(8);
  EXPECT_EQ(choose_threads(0, b).threads, 8);
  EXPECT_EQ(choose_threads(3, b).threads, 3);
  EXPECT_NE(choose_threads(3, b).why.find("as requested"), std::string::npos);
  EXPECT_NE(choose_threads(16, b).why.find("more than the 8 CPUs"), std::string::npos);
  // Ranks of one host share its CPUs (the sharding hook).
  EXPECT_EQ(choose_threads(0, b, 2).threads, 4);
  EXPECT_EQ(choose_threads(0, b, 3).threads, 2);
  EXPECT_EQ(choose_threads(0, b, 16).threads, 1);
  EXPECT_NE(choose_threads(0, b, 2).why.find("divided among 2 ranks"), std::string::npos);
  testing::expect_error([&] { choose_threads(-1, b); }, {"choose_threads", "threads must be >= 0, got -1"});
  testing::expect_error([&] { choose_threads(0, b, 0); }, {"choose_threads", "local ranks must be >= 1, got 0"});
}

TEST(CpuBudgetTest, OtherRunningTasksLeaveFewerThreads) {
  CpuBudget b = whole_machine(2, 0);
  EXPECT_EQ(choose_threads(0, b).threads, 2);
  b.others_running = 1;
  EXPECT_EQ(choose_threads(0, b).threads, 1);
  EXPECT_NE(choose_threads(0, b).why.find("1 other task is running on 2 online CPUs"), std::string::npos)
      << choose_threads(0, b).why;
  b.others_running = 5;  // more than the CPUs: still one thread
  EXPECT_EQ(choose_threads(0, b).threads, 1);
  EXPECT_NE(choose_threads(0, b).why.find("5 other tasks are running"), std::string::npos);
  EXPECT_EQ(choose_threads(2, b).threads, 2);  // an explicit count is kept
  // A container limited to 2 CPUs of a busy 64-core host: the free CPUs are elsewhere.
  b.online_cpus = 64;
  b.others_running = 30;
  EXPECT_EQ(choose_threads(0, b).threads, 2);
  b.others_running = -1;  // unknown
  b.online_cpus = 2;
  EXPECT_EQ(choose_threads(0, b).threads, 2);
}

TEST(CpuBudgetTest, ProcsRunningFromProcStat) {
  EXPECT_EQ(parse_procs_running("cpu  1 2 3\nctxt 55\nprocs_running 3\nprocs_blocked 0\n"), 3);
  EXPECT_EQ(parse_procs_running("cpu  1 2 3\n"), -1);
  EXPECT_EQ(parse_procs_running("procs_running x\n"), -1);
  EXPECT_EQ(parse_procs_running("procs_running -2\n"), -1);
  EXPECT_EQ(parse_procs_running("procs_running 1 2\n"), -1);

  FakeTree t;
  t.affinity("0-1");
  t.file("/proc/stat", "cpu  1 2 3\nprocs_running 3\nprocs_blocked 0\n");
  EXPECT_EQ(read_cpu_budget(t.root()).others_running, 2);  // the reader is one of the three
  t.file("/proc/stat", "cpu  1 2 3\nprocs_running many\n");
  const CpuBudget malformed = read_cpu_budget(t.root());
  EXPECT_EQ(malformed.others_running, -1);
  EXPECT_TRUE(has_note(malformed, "/proc/stat: ignored"));
  FakeTree missing;  // no /proc/stat: unknown, and no note
  missing.affinity("0-1");
  const CpuBudget none = read_cpu_budget(missing.root());
  EXPECT_EQ(none.others_running, -1);
  EXPECT_FALSE(has_note(none, "/proc/stat"));
}

TEST(CpuBudgetTest, IgnoreLoadSwitch) {
  FakeTree t;
  t.affinity("0-1");
  t.file("/proc/stat", "procs_running 3\n");
  ::setenv("ATMAN_THREADS_IGNORE_LOAD", "1", 1);
  EXPECT_EQ(read_cpu_budget(t.root()).others_running, -1);
  ::setenv("ATMAN_THREADS_IGNORE_LOAD", "0", 1);
  EXPECT_EQ(read_cpu_budget(t.root()).others_running, 2);
  ::unsetenv("ATMAN_THREADS_IGNORE_LOAD");
}

TEST(CpuBudgetTest, TheRunningProcess) {
  const CpuBudget b = read_cpu_budget();
  EXPECT_GE(b.cpus, 1);
  EXPECT_GE(b.affinity_cpus, 1);
  EXPECT_LE(b.cpus, b.affinity_cpus);
  EXPECT_GE(b.others_running, 0);  // Linux has /proc/stat
  const ThreadCountRestorer restore;
  // Other tasks (a parallel ctest) may take CPUs between the two reads.
  const int64_t set = set_threads(0);
  EXPECT_GE(set, 1);
  EXPECT_LE(set, b.cpus);
  EXPECT_EQ(at::get_num_threads(), set);
}

TEST(CpuBudgetTest, ThreadCountRestorerRestores) {
  const int before = at::get_num_threads();
  {
    const ThreadCountRestorer restore;
    EXPECT_EQ(set_threads(before + 1), before + 1);
  }
  EXPECT_EQ(at::get_num_threads(), before);
}

}  // namespace
}  // namespace atman
