// See bench_background.h (docs/speed.md#threads-on-a-shared-machine).

#include "bench_background.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/io/atomic_file.h"
#include "atman/runtime/cpu_budget.h"
#include "bundled_example.h"
#include "thread_report.h"
#include "wait_policy.h"

extern char** environ;

namespace atman::runner {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// N forked busy loops (`while :; do :; done`), killed when this object goes
// away and, through PR_SET_PDEATHSIG, when this process dies in any way.
class BusyLoops {
 public:
  explicit BusyLoops(int64_t n) {
    const pid_t parent = getpid();
    for (int64_t i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error(fmt::format("atman bench: cannot start busy process {} of {}", i + 1, n));
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(0);  // the parent died before prctl
        for (volatile uint64_t spin = 0;; spin = spin + 1) {
        }
      }
      pids_.push_back(pid);
    }
  }
  ~BusyLoops() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  BusyLoops(const BusyLoops&) = delete;
  BusyLoops& operator=(const BusyLoops&) = delete;

 private:
  std::vector<pid_t> pids_;
};

struct ChildRun {
  double command_seconds = 0.0;  // wall time of the whole process
  double cpu_seconds = 0.0;      // its user + system time (wait4)
  double sweep_seconds = 0.0, compile_seconds = 0.0, load_seconds = 0.0;
  int64_t threads = 0;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string last_line(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

// Runs `program` with `args` and environment `env`; stdout discarded, stderr to `err_path`.
ChildRun run_child(const std::string& program, const std::vector<std::string>& args, const std::vector<std::string>& env,
                   const std::string& json_path, const std::string& err_path, const std::string& what) {
  std::vector<char*> argv, envp;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("atman bench: cannot start " + what);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(143);
    const int null_fd = open("/dev/null", O_WRONLY);
    const int err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (null_fd >= 0) dup2(null_fd, STDOUT_FILENO);
    if (err_fd >= 0) dup2(err_fd, STDERR_FILENO);
    execve(program.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  struct rusage usage {};
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) throw std::runtime_error("atman bench: lost " + what);
  }
  ChildRun r;
  r.command_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.cpu_seconds = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                  static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    throw std::runtime_error(fmt::format("atman bench: {} failed with exit {}: {}", what, code,
                                         last_line(read_text(err_path))));
  }
  try {
    const json stats = json::parse(read_text(json_path)).at("stats");
    r.sweep_seconds = stats.at("sweep_seconds").get<double>();
    r.compile_seconds = stats.value("compile_seconds", 0.0);
    r.load_seconds = stats.value("load_seconds", 0.0);
    r.threads = stats.at("threads").get<int64_t>();
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("atman bench: {} wrote no readable stats to {} ({})", what, json_path,
                                         e.what()));
  }
  return r;
}

struct Variant {
  std::string name;
  std::string threads;  // the --threads value
  bool fix = true;      // the fix as shipped (passive wait, threads left to the load), or disabled
};

// The environment of a child, started through the `atman` launcher as users
// start it: the launcher applies the fix (launcher.cpp), or is told not to.
std::vector<std::string> child_env(bool fix) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (name == "OMP_WAIT_POLICY" || name == "GOMP_SPINCOUNT" || name == kWaitPolicyMarker || name == kKeepWaitPolicy ||
        name == "ATMAN_THREADS_IGNORE_LOAD") {
      continue;
    }
    env.push_back(entry);
  }
  if (!fix) {
    env.push_back(std::string(kKeepWaitPolicy) + "=1");
    env.emplace_back("ATMAN_THREADS_IGNORE_LOAD=1");
  }
  return env;
}

// The `atman` launcher beside this program (atman-core).
std::string launcher_path() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path launcher = self.parent_path() / "atman";
  if (ec || !fs::is_regular_file(launcher)) {
    throw std::runtime_error(fmt::format("atman bench: the atman launcher is missing beside {} (looked for {})",
                                         self.string(), launcher.string()));
  }
  return launcher.string();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

struct Cell {
  std::string phase;  // quiet, loaded
  std::string variant;
  int64_t threads = 0;
  std::vector<ChildRun> runs;
  double med(double ChildRun::*field) const {
    std::vector<double> v;
    for (const ChildRun& r : runs) v.push_back(r.*field);
    return median(v);
  }
};

// The explain flags of the input: the given ones, or the bundled example.
std::vector<std::string> input_flags(const BackgroundBenchArgs& a, std::string* described) {
  if (a.has_question || a.has_prompt || !a.target.empty() || !a.image.empty()) {
    std::vector<std::string> flags;
    if (!a.image.empty()) flags.insert(flags.end(), {"--image", a.image});
    if (a.has_question) flags.insert(flags.end(), {"--question", a.question});
    if (a.has_prompt) flags.insert(flags.end(), {"--prompt", a.prompt});
    flags.insert(flags.end(), {"--target", a.target});
    *described = a.image.empty() ? "the given prompt" : a.image;
    return flags;
  }
  const BundledExample example = read_bundled_example();
  *described = fmt::format("{}, \"{}\" -> \"{}\"", example.image, example.question, example.target);
  return {"--image", example.image, "--question", example.question, "--target", example.target};
}

void print_phase(const std::vector<Cell>& cells, const std::string& phase, const std::string& title) {
  std::printf("\n%s\n%-22s %7s %9s %10s %7s %10s %8s\n", title.c_str(), "variant", "threads", "sweep s", "compile s",
              "load s", "command s", "cpu s");
  for (const Cell& c : cells) {
    if (c.phase != phase) continue;
    std::printf("%-22s %7lld %9.2f %10.2f %7.2f %10.2f %8.2f\n", c.variant.c_str(), static_cast<long long>(c.threads),
                c.med(&ChildRun::sweep_seconds), c.med(&ChildRun::compile_seconds), c.med(&ChildRun::load_seconds),
                c.med(&ChildRun::command_seconds), c.med(&ChildRun::cpu_seconds));
  }
}

const Cell* find(const std::vector<Cell>& cells, const std::string& phase, const std::string& variant) {
  for (const Cell& c : cells) {
    if (c.phase == phase && c.variant == variant) return &c;
  }
  return nullptr;
}

// Runs every variant `a.repeat` times in each phase (variants interleaved);
// work files go to `work`.
std::vector<Cell> measure_cells(const BackgroundBenchArgs& a, const std::string& launcher, const std::vector<std::string>& input,
                                const std::vector<std::string>& phases, const fs::path& work) {
  const std::vector<Variant> variants = {
      {"threads 1", "1", true}, {"default", "0", true}, {"default, fix disabled", "0", false}};
  std::vector<Cell> cells;
  for (const std::string& phase : phases) {
    for (const Variant& v : variants) cells.push_back({phase, v.name, 0, {}});
  }
  for (const std::string& phase : phases) {
    const BusyLoops busy(phase == "loaded" ? a.background : 0);
    for (int64_t r = 0; r < a.repeat; ++r) {
      for (const Variant& v : variants) {
        const std::string json_path = (work / "run.json").string();
        std::vector<std::string> args = {"atman", "explain", "--model", a.model};
        args.insert(args.end(), input.begin(), input.end());
        args.insert(args.end(), {"--threads", v.threads, "--quiet", "--json", json_path});
        const std::string what = fmt::format("the explain run ({}, {})", v.name, phase);
        const ChildRun run =
            run_child(launcher, args, child_env(v.fix), json_path, (work / "err.txt").string(), what);
        std::fprintf(stderr, "atman: %s, %s, run %lld: sweep %.2fs, command %.2fs, cpu %.2fs\n", phase.c_str(),
                     v.name.c_str(), static_cast<long long>(r + 1), run.sweep_seconds, run.command_seconds,
                     run.cpu_seconds);
        for (Cell& c : cells) {
          if (c.phase == phase && c.variant == v.name) {
            c.runs.push_back(run);
            c.threads = run.threads;
          }
        }
      }
    }
  }
  return cells;
}

std::string cells_csv(const std::vector<Cell>& cells, int64_t background) {
  std::string csv = "phase,busy_processes,variant,threads,runs,sweep_seconds,compile_seconds,load_seconds,"
                    "command_seconds,cpu_seconds\n";
  for (const Cell& c : cells) {
    csv += fmt::format("{},{},{},{},{},{:.4f},{:.4f},{:.4f},{:.4f},{:.4f}\n", c.phase,
                       c.phase == "loaded" ? background : 0, c.variant, c.threads, c.runs.size(),
                       c.med(&ChildRun::sweep_seconds), c.med(&ChildRun::compile_seconds),
                       c.med(&ChildRun::load_seconds), c.med(&ChildRun::command_seconds),
                       c.med(&ChildRun::cpu_seconds));
  }
  return csv;
}

json cells_json(const std::vector<Cell>& cells, int64_t background) {
  json rows = json::array();
  for (const Cell& c : cells) {
    json runs = json::array();
    for (const ChildRun& r : c.runs) {
      runs.push_back({{"sweep_seconds", r.sweep_seconds}, {"compile_seconds", r.compile_seconds},
                      {"load_seconds", r.load_seconds}, {"command_seconds", r.command_seconds},
                      {"cpu_seconds", r.cpu_seconds}});
    }
    rows.push_back({{"phase", c.phase},
                    {"busy_processes", c.phase == "loaded" ? background : 0},
                    {"variant", c.variant},
                    {"threads", c.threads},
                    {"sweep_seconds", c.med(&ChildRun::sweep_seconds)},
                    {"compile_seconds", c.med(&ChildRun::compile_seconds)},
                    {"load_seconds", c.med(&ChildRun::load_seconds)},
                    {"command_seconds", c.med(&ChildRun::command_seconds)},
                    {"cpu_seconds", c.med(&ChildRun::cpu_seconds)},
                    {"runs", runs}});
  }
  return rows;
}

void print_goals(const std::vector<Cell>& cells) {
  const Cell* one = find(cells, "loaded", "threads 1");
  const Cell* def = find(cells, "loaded", "default");
  const Cell* off = find(cells, "loaded", "default, fix disabled");
  const Cell* quiet_def = find(cells, "quiet", "default");
  const auto sweep = [](const Cell* c) { return c->med(&ChildRun::sweep_seconds); };
  std::printf("\nloaded sweep: default %.2fx threads 1 (goal <= 1.1x), %.2fx its quiet time (goal <= 3x); fix "
              "disabled %.2fx threads 1\n",
              sweep(def) / sweep(one), sweep(def) / sweep(quiet_def), sweep(off) / sweep(one));
}

}  // namespace

int run_background_bench(const BackgroundBenchArgs& a) {
  std::string described;
  const std::vector<std::string> input = input_flags(a, &described);
  const std::string launcher = launcher_path();
  if (!a.csv.empty()) check_output_path(a.csv, "csv");
  if (!a.json_path.empty()) check_output_path(a.json_path, "json");
  const CpuBudget budget = read_cpu_budget();
  const std::string load_before = load_average();
  std::vector<std::string> phases = {"quiet"};
  if (a.background > 0) phases.push_back("loaded");

  std::printf("atman bench --background %lld: %s on %s\n", static_cast<long long>(a.background), a.model.c_str(),
              described.c_str());
  std::printf("this process may use %s; load average %s (before)\n", budget.describe().c_str(), load_before.c_str());
  std::printf("each row: the median of %lld whole `atman explain` runs, variants interleaved; \"fix disabled\": "
              "%s=1 ATMAN_THREADS_IGNORE_LOAD=1 (libgomp's default wait policy, threads for every CPU)\n",
              static_cast<long long>(a.repeat), kKeepWaitPolicy);
  std::fflush(stdout);

  const fs::path work = fs::temp_directory_path() / fmt::format("atman-bench-background-{}", getpid());
  fs::create_directories(work);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{work};
  const std::vector<Cell> cells = measure_cells(a, launcher, input, phases, work);
  const std::string load_after = load_average();

  print_phase(cells, "quiet", "quiet (no busy processes started; other work on the machine still counts)");
  if (a.background > 0) {
    print_phase(cells, "loaded", fmt::format("loaded ({} busy processes)", a.background));
    print_goals(cells);
  }
  std::printf("load average %s (after)\n", load_after.c_str());
  if (!a.csv.empty()) {
    write_file_atomically(a.csv, cells_csv(cells, a.background), "csv");
    std::printf("csv: %s\n", a.csv.c_str());
  }
  if (!a.json_path.empty()) {
    const json out = {{"model_path", a.model},          {"input", described},
                      {"background", a.background},     {"repeat", a.repeat},
                      {"cpus", budget.cpus},            {"cpu_budget", budget.describe()},
                      {"load_average_before", load_before}, {"load_average_after", load_after},
                      {"rows", cells_json(cells, a.background)}};
    write_file_atomically(a.json_path, out.dump(1) + "\n", "json");
    std::printf("json: %s\n", a.json_path.c_str());
  }
  return 0;
}

}  // namespace atman::runner
