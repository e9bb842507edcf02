#include "distributed_flags.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "atman/base/text.h"
#include "atman/runtime/cpu_budget.h"
#include "commands.h"

namespace atman::runner {
namespace {

// A TCP port that is free on loopback now (the kernel's pick).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("--processes: cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("--processes: cannot find a free port on 127.0.0.1");
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

// c10d logs socket time-outs and peer errors through glog on stderr, before
// the exception that the one line of this rank reports: only FATAL stays.
void quiet_c10d_logging() {
  if (auto* level = static_cast<int32_t*>(dlsym(RTLD_DEFAULT, "_ZN3fLI17FLAGS_minloglevelE"))) *level = 3;
}

}  // namespace

void add_distributed_flags(CLI::App* sub, DistributedArgs& a) {
  sub->add_flag("--distributed", a.distributed,
                "Run as one rank of a group set by the flags below (without it: torchrun's RANK, WORLD_SIZE, ... "
                "when set)");
  sub->add_option("--rank", a.rank, "This process's rank (--distributed; default: RANK)");
  sub->add_option("--world-size", a.world_size, "Ranks in the group (--distributed; default: WORLD_SIZE)");
  sub->add_option("--local-rank", a.local_rank, "Rank on this host (--distributed; default: LOCAL_RANK, else --rank)");
  sub->add_option("--local-world-size", a.local_world_size,
                  "Ranks on this host, which share its CPUs (--distributed; default: LOCAL_WORLD_SIZE, else "
                  "--world-size)");
  sub->add_option("--master-addr", a.master_addr,
                  "Address of the store (rank 0's host; --distributed; default: MASTER_ADDR, else 127.0.0.1)");
  sub->add_option("--master-port", a.master_port, "Port of the store (--distributed; default: MASTER_PORT, else 29500)");
  sub->add_option("--timeout", a.timeout,
                  "Seconds a silent rank or an unreachable store is waited for before every rank gives up")
      ->capture_default_str();
  sub->add_option("--processes", a.processes, "Start this many ranks on this host (loopback) and wait for them");
}

std::optional<GroupConfig> resolve_group(const DistributedArgs& a) {
  const bool any_flag = a.rank >= 0 || a.world_size >= 0 || a.local_rank >= 0 || a.local_world_size >= 0 ||
                        !a.master_addr.empty() || a.master_port >= 0;
  if (any_flag && !a.distributed) {
    throw UsageError("--rank, --world-size, --local-rank, --local-world-size, --master-addr and --master-port need "
                     "--distributed");
  }
  if (!(a.timeout > 0.0) || a.timeout > 86400.0) {
    throw UsageError(fmt::format("--timeout must be in (0, 86400] seconds, got {}", a.timeout));
  }
  std::optional<GroupConfig> env;
  try {
    env = group_config_from_environment();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (!a.distributed) {
    if (!env || env->world_size == 1) return std::nullopt;
    env->timeout_seconds = a.timeout;
    return env;
  }
  GroupConfig c = env.value_or(GroupConfig{});
  if (a.rank >= 0) c.rank = a.rank;
  if (a.world_size >= 0) c.world_size = a.world_size;
  if (!env) {
    c.local_rank = c.rank;
    c.local_world_size = c.world_size;
  }
  if (a.local_rank >= 0) c.local_rank = a.local_rank;
  if (a.local_world_size >= 0) c.local_world_size = a.local_world_size;
  if (!a.master_addr.empty()) c.master_addr = a.master_addr;
  if (a.master_port >= 0) c.master_port = a.master_port;
  c.timeout_seconds = a.timeout;
  if (a.rank < 0 && !env) throw UsageError("--distributed needs --rank (or RANK in the environment)");
  if (a.world_size < 0 && !env) throw UsageError("--distributed needs --world-size (or WORLD_SIZE in the environment)");
  try {
    check_group_config(c);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  if (c.world_size == 1) return std::nullopt;
  return c;
}

std::unique_ptr<ProcessGroup> join_group(const GroupConfig& config) {
  quiet_c10d_logging();
  return ProcessGroup::join(config, [](const std::string& line) {
    std::fprintf(stderr, "atman: error: %s\n", first_line(line, std::string::npos).c_str());
    std::fflush(stderr);
    std::_Exit(1);
  });
}

std::string rank_failure_line(int64_t rank, const std::exception& e) {
  const std::string what = one_line_message(e);
  if (dynamic_cast<const GroupFailure*>(&e)) return what;
  return fmt::format("rank {} failed: {}", rank, what);
}

int64_t rank_threads(int64_t requested, const std::optional<GroupConfig>& group) {
  if (requested > 0 || !group) return requested;
  // The CPUs this process may use, divided among the ranks of this host.
  return choose_threads(0, read_cpu_budget(), group->local_world_size).threads;
}

int run_processes(const DistributedArgs& a) {
  if (a.processes < 1 || a.processes > 256) {
    throw UsageError(fmt::format("--processes must be in [1, 256], got {}", a.processes));
  }
  if (a.distributed || std::getenv("RANK") || std::getenv("WORLD_SIZE")) {
    throw UsageError("--processes starts its own ranks: leave out --distributed and RANK/WORLD_SIZE");
  }
  std::vector<std::string> args = own_command_line();
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--processes") {
      ++i;
      continue;
    }
    if (args[i].rfind("--processes=", 0) == 0) continue;
    kept.push_back(args[i]);
  }
  const int port = free_port();
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> children;
  for (int64_t r = 0; r < a.processes; ++r) {
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("--processes: fork failed");
    if (pid == 0) {
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(a.processes).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(a.processes).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      unsetenv("TORCHELASTIC_USE_AGENT_STORE");
      std::vector<char*> argv;
      for (std::string& s : kept) argv.push_back(s.data());
      argv.push_back(nullptr);
      execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "atman: error: --processes: cannot start rank %lld\n", static_cast<long long>(r));
      std::_Exit(127);
    }
    children.push_back(pid);
  }
  int status_out = 0;
  for (pid_t pid : children) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) break;
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && status_out == 0) status_out = code;
  }
  return status_out;
}

}  // namespace atman::runner
