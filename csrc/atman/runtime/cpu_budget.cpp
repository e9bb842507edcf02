#include "atman/runtime/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "atman/base/text.h"

namespace atman {
namespace {

// root + absolute path, without a doubled slash ("/" + "/proc" -> "/proc").
std::string under(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + path;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return buffer.str();
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

// A decimal integer filling all of `text` (no sign other than a leading '-').
std::optional<int64_t> parse_int(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  size_t i = text[0] == '-' ? 1 : 0;
  if (i == text.size()) return std::nullopt;
  int64_t v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    v = v * 10 + (text[i] - '0');
  }
  return text[0] == '-' ? -v : v;
}

// First line of a file's text, for a note ("" when empty), shortened.
std::string shown(const std::string& text) {
  std::string line = trimmed(first_line(text, std::string::npos));
  if (line.size() > 40) line = line.substr(0, 40) + "...";
  return line;
}

// Mount points in mountinfo escape space, tab, newline and backslash as \ooo.
std::string unescape_mount_path(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto octal = [&](size_t j) { return j < s.size() && s[j] >= '0' && s[j] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct CgroupMount {
  std::string root;   // the hierarchy's folder mounted there (mountinfo field 4)
  std::string point;  // where it is mounted (field 5)
};

struct CgroupPaths {
  std::optional<std::string> v1_cpu;  // the process's path in the v1 hierarchy with the cpu controller
  std::optional<std::string> v2;      // its path in the unified (v2) hierarchy
};

CgroupPaths read_process_cgroups(const std::string& root, std::vector<std::string>& notes) {
  CgroupPaths paths;
  const std::string file = "/proc/self/cgroup";
  const auto text = read_text(under(root, file));
  if (!text) {
    notes.push_back(fmt::format("{} unreadable: no cgroup CPU quota read", file));
    return paths;
  }
  for (const std::string& line : split(*text, '\n')) {
    if (trimmed(line).empty()) continue;
    // hierarchy-ID:controller-list:cgroup-path (the path may itself hold ':')
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? std::string::npos : line.find(':', a + 1);
    if (b == std::string::npos || line[b + 1] != '/') {
      notes.push_back(fmt::format("{}: ignored line \"{}\" (expected ID:CONTROLLERS:/PATH)", file, shown(line)));
      continue;
    }
    const std::string id = line.substr(0, a);
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (id == "0" && controllers.empty()) {
      paths.v2 = path;
    } else {
      for (const std::string& c : split(controllers, ',')) {
        if (c == "cpu") paths.v1_cpu = path;
      }
    }
  }
  return paths;
}

void read_cgroup_mounts(const std::string& root, std::optional<CgroupMount>* v1_cpu, std::optional<CgroupMount>* v2) {
  const auto text = read_text(under(root, "/proc/self/mountinfo"));
  if (!text) return;  // defaults below
  for (const std::string& line : split(*text, '\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    const std::vector<std::string> before = words(line.substr(0, dash));
    const std::vector<std::string> after = words(line.substr(dash + 3));
    if (before.size() < 5 || after.empty()) continue;
    const CgroupMount mount{unescape_mount_path(before[3]), unescape_mount_path(before[4])};
    if (after[0] == "cgroup2" && !*v2) {
      *v2 = mount;
    } else if (after[0] == "cgroup" && after.size() >= 3 && !*v1_cpu) {
      for (const std::string& option : split(after[2], ',')) {
        if (option == "cpu") *v1_cpu = mount;
      }
    }
  }
}

// The folder of cgroup `path` (as /proc/self/cgroup gives it) under `mount`.
std::string cgroup_folder(const CgroupMount& mount, const std::string& path) {
  std::string relative = path;
  if (mount.root != "/") {
    if (path == mount.root) {
      relative = "/";
    } else if (path.rfind(mount.root + "/", 0) == 0) {
      relative = path.substr(mount.root.size());
    } else {
      relative = "/";  // outside the mounted part of the hierarchy: only the mount point is visible
    }
  }
  std::string folder = mount.point;
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
  if (relative != "/") folder += relative;
  return folder;
}

// The folders from `folder` up to the mount point, leaf first.
std::vector<std::string> folders_up_to(const std::string& folder, const std::string& mount_point) {
  std::vector<std::string> out;
  std::string f = folder;
  std::string top = mount_point;
  while (top.size() > 1 && top.back() == '/') top.pop_back();
  for (;;) {
    out.push_back(f);
    if (f == top || f.size() <= top.size()) break;
    const auto slash = f.rfind('/');
    if (slash == std::string::npos || slash == 0) break;
    f = f.substr(0, slash);
  }
  return out;
}

void keep_smaller(std::optional<CpuQuota>* best, const CpuQuota& q) {
  if (!*best || q.cpus() < (*best)->cpus()) *best = q;
}

// cgroup v2: cpu.max holds "QUOTA PERIOD" or "max PERIOD".
void read_v2_quota(const std::string& root, const std::string& folder, std::optional<CpuQuota>* best,
                   std::vector<std::string>& notes) {
  const std::string file = folder + "/cpu.max";
  const auto text = read_text(under(root, file));
  if (!text) return;  // no cpu controller at this level
  const std::vector<std::string> w = words(*text);
  const std::optional<int64_t> period = w.size() == 2 ? parse_int(w[1]) : std::nullopt;
  if (w.size() == 2 && period && *period > 0) {
    if (w[0] == "max") return;
    const std::optional<int64_t> quota = parse_int(w[0]);
    if (quota && *quota > 0) {
      keep_smaller(best, {*quota, *period, file});
      return;
    }
  }
  notes.push_back(fmt::format("{} ignored: expected \"QUOTA PERIOD\" or \"max PERIOD\", got \"{}\"", file,
                              shown(*text)));
}

// cgroup v1: cpu.cfs_quota_us ("-1": none) and cpu.cfs_period_us.
void read_v1_quota(const std::string& root, const std::string& folder, std::optional<CpuQuota>* best,
                   std::vector<std::string>& notes) {
  const std::string quota_file = folder + "/cpu.cfs_quota_us";
  const std::string period_file = folder + "/cpu.cfs_period_us";
  const auto quota_text = read_text(under(root, quota_file));
  if (!quota_text) return;
  const std::optional<int64_t> quota = parse_int(trimmed(*quota_text));
  if (!quota || *quota == 0 || *quota < -1) {
    notes.push_back(fmt::format("{} ignored: expected a positive number of microseconds or -1, got \"{}\"",
                                quota_file, shown(*quota_text)));
    return;
  }
  if (*quota == -1) return;
  const auto period_text = read_text(under(root, period_file));
  if (!period_text) {
    notes.push_back(fmt::format("{} ignored: {} is missing", quota_file, period_file));
    return;
  }
  const std::optional<int64_t> period = parse_int(trimmed(*period_text));
  if (!period || *period <= 0) {
    notes.push_back(fmt::format("{} ignored: expected a positive number of microseconds, got \"{}\"", period_file,
                                shown(*period_text)));
    return;
  }
  keep_smaller(best, {*quota, *period, quota_file});
}

bool has_parent_reference(const std::string& path) {
  for (const std::string& part : split(path, '/')) {
    if (part == "..") return true;
  }
  return false;
}

std::string cpus_word(int64_t n) { return n == 1 ? "CPU" : "CPUs"; }

}  // namespace

int64_t count_cpu_list(const std::string& text) {
  const std::string list = trimmed(text);
  if (list.empty()) return -1;
  int64_t count = 0;
  for (const std::string& range : split(list, ',')) {
    const auto dash = range.find('-');
    const auto first = parse_int(range.substr(0, dash));
    const auto last = dash == std::string::npos ? first : parse_int(range.substr(dash + 1));
    if (!first || !last || *first < 0 || *last < *first) return -1;
    count += *last - *first + 1;
  }
  return count;
}

int64_t read_affinity_cpus(const std::string& root, std::vector<std::string>* notes) {
  std::vector<std::string> ignored;
  std::vector<std::string>& out = notes != nullptr ? *notes : ignored;
  if (root.empty() || root == "/") {
    for (int size = 1024; size <= (1 << 20); size *= 2) {
      cpu_set_t* set = CPU_ALLOC(size);
      if (set == nullptr) break;
      const size_t bytes = CPU_ALLOC_SIZE(size);
      CPU_ZERO_S(bytes, set);
      const int rc = sched_getaffinity(0, bytes, set);
      const int count = rc == 0 ? CPU_COUNT_S(bytes, set) : 0;
      const int error = errno;
      CPU_FREE(set);
      if (rc == 0) return count;
      if (error != EINVAL) break;  // EINVAL: the kernel's mask is larger, try a larger set
    }
    out.push_back("sched_getaffinity failed: affinity unknown");
    return 0;
  }
  const std::string file = "/proc/self/status";
  const auto text = read_text(under(root, file));
  if (!text) {
    out.push_back(fmt::format("{} unreadable: affinity unknown", file));
    return 0;
  }
  for (const std::string& line : split(*text, '\n')) {
    if (line.rfind("Cpus_allowed_list:", 0) != 0) continue;
    const int64_t n = count_cpu_list(line.substr(18));
    if (n > 0) return n;
    out.push_back(fmt::format("{} ignored: Cpus_allowed_list \"{}\" is not a CPU list", file, shown(line.substr(18))));
    return 0;
  }
  out.push_back(fmt::format("{} has no Cpus_allowed_list: affinity unknown", file));
  return 0;
}

std::optional<CpuQuota> read_cgroup_cpu_quota(const std::string& root, std::vector<std::string>* notes,
                                              std::string* version) {
  std::vector<std::string> ignored;
  std::vector<std::string>& out = notes != nullptr ? *notes : ignored;
  const CgroupPaths paths = read_process_cgroups(root, out);
  std::optional<CgroupMount> v1_mount, v2_mount;
  read_cgroup_mounts(root, &v1_mount, &v2_mount);
  // Without mountinfo: the usual mount points.
  if (!v2_mount) v2_mount = CgroupMount{"/", "/sys/fs/cgroup"};
  if (!v1_mount) {
    v1_mount = CgroupMount{"/", read_text(under(root, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"))
                                    ? "/sys/fs/cgroup/cpu,cpuacct"
                                    : "/sys/fs/cgroup/cpu"};
  }
  std::optional<CpuQuota> best;
  std::string found;
  if (paths.v1_cpu) {
    if (has_parent_reference(*paths.v1_cpu)) {
      out.push_back(fmt::format("/proc/self/cgroup: ignored cpu path \"{}\" (holds ..)", shown(*paths.v1_cpu)));
    } else {
      found = "v1";
      for (const std::string& f : folders_up_to(cgroup_folder(*v1_mount, *paths.v1_cpu), v1_mount->point)) {
        read_v1_quota(root, f, &best, out);
      }
    }
  }
  if (paths.v2) {
    if (has_parent_reference(*paths.v2)) {
      out.push_back(fmt::format("/proc/self/cgroup: ignored unified path \"{}\" (holds ..)", shown(*paths.v2)));
    } else {
      // A hybrid system mounts the unified hierarchy without the cpu controller: no cpu.max, nothing read.
      const size_t before = out.size();
      std::optional<CpuQuota> v2_best;
      bool any = false;
      for (const std::string& f : folders_up_to(cgroup_folder(*v2_mount, *paths.v2), v2_mount->point)) {
        if (read_text(under(root, f + "/cpu.max"))) any = true;
        read_v2_quota(root, f, &v2_best, out);
      }
      if (any || out.size() > before) found = found.empty() ? "v2" : found + "+v2";
      if (v2_best) keep_smaller(&best, *v2_best);
    }
  }
  if (version != nullptr) *version = found;
  return best;
}

int64_t parse_procs_running(const std::string& stat_text) {
  std::stringstream in(stat_text);
  std::string line;
  while (std::getline(in, line)) {
    const std::vector<std::string> w = words(line);
    if (w.size() == 2 && w[0] == "procs_running") {
      const std::optional<int64_t> n = parse_int(w[1]);
      return n && *n >= 0 ? *n : -1;
    }
  }
  return -1;
}

int64_t read_others_running(const std::string& root, int samples, std::vector<std::string>* notes) {
  const char* ignore = std::getenv("ATMAN_THREADS_IGNORE_LOAD");
  if (ignore != nullptr && ignore[0] != '\0' && std::string(ignore) != "0") return -1;
  int64_t least = -1;
  for (int i = 0; i < std::max(1, samples); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const std::optional<std::string> text = read_text(under(root, "/proc/stat"));
    const int64_t running = text ? parse_procs_running(*text) : -1;
    if (running < 0) {  // a missing file is normal (no /proc); a malformed one gets a note
      if (text && notes != nullptr) {
        notes->push_back("/proc/stat: ignored (no readable procs_running line): other running tasks unknown");
      }
      return -1;
    }
    // The reader itself is running: the others are one fewer.
    const int64_t others = std::max<int64_t>(0, running - 1);
    least = least < 0 ? others : std::min(least, others);
  }
  return least;
}

CpuBudget read_cpu_budget(const std::string& root) {
  CpuBudget b;
  b.online_cpus = static_cast<int64_t>(std::thread::hardware_concurrency());
  b.affinity_cpus = read_affinity_cpus(root, &b.notes);
  b.quota = read_cgroup_cpu_quota(root, &b.notes, &b.cgroup_version);
  int64_t cpus = b.affinity_cpus > 0 ? b.affinity_cpus : std::max<int64_t>(1, b.online_cpus);
  if (b.quota) cpus = std::min<int64_t>(cpus, static_cast<int64_t>(std::floor(b.quota->cpus())));
  b.cpus = std::max<int64_t>(1, cpus);
  b.others_running = read_others_running(root, root.empty() || root == "/" ? 3 : 1, &b.notes);
  return b;
}

std::string CpuBudget::describe() const {
  std::string text = fmt::format("{} {} (", cpus, cpus_word(cpus));
  if (affinity_cpus > 0) {
    text += fmt::format("affinity mask {} {}", affinity_cpus, cpus_word(affinity_cpus));
    if (online_cpus > 0) text += fmt::format(" of {} online", online_cpus);
  } else {
    text += fmt::format("affinity unknown, {} online", online_cpus);
  }
  if (quota) {
    text += fmt::format("; cgroup {} quota {:.2f} CPUs ({}/{} us in {})", cgroup_version, quota->cpus(),
                        quota->quota_us, quota->period_us, quota->file);
    if (std::floor(quota->cpus()) != quota->cpus()) text += ", rounded down";
  } else if (!cgroup_version.empty()) {
    text += fmt::format("; no cgroup {} CPU quota", cgroup_version);
  } else {
    text += "; no cgroup CPU controller found";
  }
  return text + ")";
}

ThreadChoice choose_threads(int64_t requested, const CpuBudget& budget, int64_t local_ranks) {
  if (requested < 0) throw std::invalid_argument(fmt::format("choose_threads: threads must be >= 0, got {}", requested));
  if (local_ranks < 1) {
    throw std::invalid_argument(fmt::format("choose_threads: local ranks must be >= 1, got {}", local_ranks));
  }
  ThreadChoice c;
  if (requested > 0) {
    c.threads = requested;
    c.why = fmt::format("{} (as requested", requested);
    if (requested > budget.cpus) {
      c.why += fmt::format("; more than the {} {} this process may use: threads will wait for each other",
                           budget.cpus, cpus_word(budget.cpus));
    }
    c.why += ")";
    return c;
  }
  c.threads = std::max<int64_t>(1, budget.cpus / local_ranks);
  c.why = fmt::format("{}: the CPUs this process may use, {}", c.threads, budget.describe());
  if (local_ranks > 1) c.why += fmt::format(", divided among {} ranks on this host", local_ranks);
  if (budget.others_running >= 0 && budget.online_cpus > 0) {
    const int64_t free_cpus = std::max<int64_t>(1, budget.online_cpus - budget.others_running);
    if (free_cpus < c.threads) {
      c.threads = free_cpus;
      c.why = fmt::format("{}: {} other {} running on {} online {} (more threads would wait for each other; "
                          "ATMAN_THREADS_IGNORE_LOAD=1 ignores them); the CPUs this process may use: {}",
                          c.threads, budget.others_running, budget.others_running == 1 ? "task is" : "tasks are",
                          budget.online_cpus, cpus_word(budget.online_cpus), budget.describe());
    }
  }
  return c;
}

int64_t set_threads(int64_t requested, int64_t local_ranks) {
  const CpuBudget budget = requested > 0 ? CpuBudget{} : read_cpu_budget();
  const ThreadChoice choice = choose_threads(requested, budget, local_ranks);
  const int n = static_cast<int>(std::min<int64_t>(choice.threads, std::numeric_limits<int>::max()));
  if (at::get_num_threads() != n) at::set_num_threads(n);
  return at::get_num_threads();
}

ThreadCountRestorer::ThreadCountRestorer() : threads_(at::get_num_threads()) {}
ThreadCountRestorer::~ThreadCountRestorer() {
  if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
}

}  // namespace atman
