#include "atman/runtime/distributed.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "atman/base/text.h"

namespace atman {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }
std::string string_of(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000.0)));
}

std::string seconds_text(double s) { return s >= 10 ? fmt::format("{:.0f} s", s) : fmt::format("{:.3g} s", s); }

// The address this host uses to reach `host` (the interface Gloo listens on):
// a connected UDP socket's own address; empty when it cannot be found.
std::string local_address_towards(const std::string& host, int64_t port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found) return "";
  std::string out;
  const int fd = socket(found->ai_family, SOCK_DGRAM, 0);
  if (fd >= 0) {
    if (connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
      sockaddr_in self{};
      socklen_t len = sizeof self;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0) {
        char text[INET_ADDRSTRLEN] = {0};
        if (inet_ntop(AF_INET, &self.sin_addr, text, sizeof text)) out = text;
      }
    }
    close(fd);
  }
  freeaddrinfo(found);
  return out;
}

}  // namespace


// ---- the group ---------------------------------------------------------------------

struct ProcessGroup::State {
  GroupConfig config;
  std::string prefix;  // "atman/RUN/"
  double period = 1.0;  // heartbeat period, seconds
  FailureHandler on_failure;
  c10::intrusive_ptr<c10d::Store> host;    // rank 0 started by hand: the server
  c10::intrusive_ptr<c10d::Store> store;   // the main thread's client
  c10::intrusive_ptr<c10d::Store> beats;   // the heartbeat thread's client
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::string failure;  // first failure line, empty while healthy
  std::atomic<int64_t> last_beat_ms{0};  // steady clock ms of the last completed heartbeat round
  std::thread beat_thread;
  std::thread watch_thread;
  int64_t sent = 0;
  std::vector<int64_t> received;

  std::string key(const std::string& k) const { return prefix + k; }
  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
  }
  std::string store_name() const {
    return fmt::format("the store at {}:{} ({})", config.master_addr, config.master_port,
                       config.agent_store ? "the launcher's" : "hosted by rank 0");
  }

  // Records the first failure and calls the handler once (any thread).
  void fail(const std::string& line) {
    FailureHandler handler;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!failure.empty() || stopping) return;
      failure = line;
      handler = on_failure;
    }
    wake.notify_all();
    if (handler) handler(line);
  }
  std::string failed() {
    std::lock_guard<std::mutex> lock(mutex);
    return failure;
  }
  void throw_if_failed() {
    const std::string f = failed();
    if (!f.empty()) throw GroupFailure(f);
  }

  void beat_loop() {
    const int64_t w = config.world_size;
    std::vector<int64_t> seen(w, -1);
    std::vector<Clock::time_point> changed(w, Clock::now());
    std::vector<char> done(w, 0);
    const auto limit = std::chrono::duration<double>(config.timeout_seconds);
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mutex);
        if (stopping || !failure.empty()) return;
      }
      try {
        beats->add(key(fmt::format("beat/{}", config.rank)), 1);
        if (beats->check({key("abort")})) {
          const std::string line = string_of(beats->get(key("abort")));
          fail(line.empty() ? "another rank failed" : line);
          return;
        }
        for (int64_t r = 0; r < w; ++r) {
          if (r == config.rank || done[r]) continue;
          if (beats->add(key(fmt::format("done/{}", r)), 0) > 0) {
            done[r] = 1;
            continue;
          }
          const int64_t v = beats->add(key(fmt::format("beat/{}", r)), 0);
          const auto now = Clock::now();
          if (v != seen[r]) {
            seen[r] = v;
            changed[r] = now;
          } else if (now - changed[r] > limit) {
            fail(v == 0 ? fmt::format("rank {} did not join within {} (not started, or cannot reach {}:{})", r,
                                      seconds_text(config.timeout_seconds), config.master_addr, config.master_port)
                        : fmt::format("rank {} stopped responding: no heartbeat for {} (killed, hung or unreachable)",
                                      r, seconds_text(config.timeout_seconds)));
            return;
          }
        }
        last_beat_ms = now_ms();
      } catch (const std::exception& e) {
        fail(fmt::format("{} cannot be reached{}: {}", store_name(),
                         config.agent_store ? "" : " (rank 0 ended or its host is unreachable)", one_line_message(e)));
        return;
      }
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait_for(lock, std::chrono::duration<double>(period), [&] { return stopping || !failure.empty(); });
    }
  }

  // The heartbeat thread may block in a store call that never returns (a
  // host cut off mid-call): this one only looks at the clock.
  void watch_loop() {
    while (true) {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait_for(lock, std::chrono::duration<double>(period), [&] { return stopping || !failure.empty(); });
      if (stopping || !failure.empty()) return;
      lock.unlock();
      const double silent = static_cast<double>(now_ms() - last_beat_ms.load()) / 1000.0;
      if (silent > config.timeout_seconds + period) {
        fail(fmt::format("{} did not answer for {} (its host is unreachable or hung)", store_name(),
                         seconds_text(silent)));
        return;
      }
    }
  }

  // Polls `keys` until all exist; throws GroupFailure when the group fails.
  void wait_keys(const std::vector<std::string>& keys) {
    auto pause = std::chrono::milliseconds(1);
    while (true) {
      throw_if_failed();
      bool all = false;
      try {
        all = store->check(keys);
      } catch (const std::exception& e) {
        fail(fmt::format("{} cannot be reached: {}", store_name(), one_line_message(e)));
        throw_if_failed();
      }
      if (all) return;
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait_for(lock, pause, [&] { return !failure.empty(); });
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  }

  template <typename F>
  auto guarded(const char* what, F&& f) -> decltype(f()) {
    throw_if_failed();
    try {
      return f();
    } catch (const GroupFailure&) {
      throw;
    } catch (const std::exception& e) {
      const std::string f2 = failed();
      if (!f2.empty()) throw GroupFailure(f2);
      throw GroupFailure(fmt::format("{} failed on rank {}: {}", what, config.rank, one_line_message(e)));
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    // A heartbeat thread stuck in a store call that never returns cannot be
    // joined: it is left to the process's end (it holds this state alive).
    if (beat_thread.joinable()) {
      if (static_cast<double>(now_ms() - last_beat_ms.load()) / 1000.0 > period * 4 + 1.0) {
        beat_thread.detach();
      } else {
        beat_thread.join();
      }
    }
    if (watch_thread.joinable()) watch_thread.join();
  }
};

ProcessGroup::ProcessGroup(std::shared_ptr<State> state) : state_(std::move(state)) {}

ProcessGroup::~ProcessGroup() {
  if (state_) state_->stop();
}

const GroupConfig& ProcessGroup::config() const { return state_->config; }

namespace {

c10d::TCPStoreOptions store_options(const GroupConfig& config, bool server) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(config.master_port);
  o.isServer = server;
  o.waitWorkers = false;
  o.timeout = millis(config.timeout_seconds);
  return o;
}

// A client connection to the store (the launcher's, or rank 0's).
c10::intrusive_ptr<c10d::TCPStore> connect_store(const GroupConfig& config) {
  try {
    return c10::make_intrusive<c10d::TCPStore>(config.master_addr, store_options(config, false));
  } catch (const std::exception& e) {
    const std::string why = one_line_message(e);
    throw std::runtime_error(fmt::format(
        "rank {}: cannot reach the master {}:{} within {} ({}){}", config.rank, config.master_addr,
        config.master_port, seconds_text(config.timeout_seconds),
        config.agent_store ? "is the launcher's store there?" : "is rank 0 running there?",
        why.find("timed out") != std::string::npos ? "" : ": " + why));
  }
}

// Rank 0 hosts the store when no launcher does.
c10::intrusive_ptr<c10d::TCPStore> host_store(const GroupConfig& config) {
  try {
    return c10::make_intrusive<c10d::TCPStore>(config.master_addr, store_options(config, true));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("rank 0: cannot host the store on port {} (in use, or MASTER_ADDR {} is "
                                         "not this host): {}",
                                         config.master_port, config.master_addr, one_line_message(e)));
  }
}

// Gloo listens on the interface that routes to the master (GLOO_SOCKET_IFNAME overrides).
c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> gloo_options(const GroupConfig& config) {
  auto options = c10d::ProcessGroupGloo::Options::create(millis(config.timeout_seconds));
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  } else {
    std::string address = local_address_towards(config.master_addr, config.master_port);
    if (address.empty()) address = "127.0.0.1";
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(address));
  }
  return options;
}

}  // namespace

std::unique_ptr<ProcessGroup> ProcessGroup::join(const GroupConfig& config, FailureHandler on_failure) {
  check_group_config(config);
  auto s = std::make_shared<State>();
  s->config = config;
  s->prefix = fmt::format("atman/{}/", config.run_id);
  s->period = std::clamp(config.timeout_seconds / 10.0, 0.05, 1.0);
  s->on_failure = std::move(on_failure);
  s->received.assign(config.world_size, 0);
  if (config.rank == 0 && !config.agent_store) s->host = host_store(config);
  s->store = connect_store(config);
  s->beats = connect_store(config);
  s->last_beat_ms = State::now_ms();
  s->beat_thread = std::thread([raw = s.get()] { raw->beat_loop(); });
  s->watch_thread = std::thread([raw = s.get()] { raw->watch_loop(); });
  std::unique_ptr<ProcessGroup> group(new ProcessGroup(s));

  // Every rank has joined (the heartbeat thread names one that does not).
  try {
    group->exchange("join", std::to_string(getpid()));
  } catch (const GroupFailure& e) {
    throw std::runtime_error(e.what());
  }
  try {
    auto gloo_store = c10::make_intrusive<c10d::PrefixStore>(s->prefix + "gloo/", connect_store(config));
    s->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(gloo_store, static_cast<int>(config.rank),
                                                          static_cast<int>(config.world_size), gloo_options(config));
  } catch (const std::exception& e) {
    const std::string f = s->failed();
    throw std::runtime_error(f.empty() ? fmt::format("rank {}: cannot build the Gloo group: {}", config.rank, one_line_message(e))
                                       : f);
  }
  return group;
}

std::vector<std::string> ProcessGroup::exchange(const std::string& tag, const std::string& value) {
  State& s = *state_;
  const int64_t w = s.config.world_size;
  s.guarded("the store", [&] {
    s.store->set(s.key(fmt::format("x/{}/{}", tag, s.config.rank)), bytes_of(value));
    return 0;
  });
  std::vector<std::string> keys;
  for (int64_t r = 0; r < w; ++r) keys.push_back(s.key(fmt::format("x/{}/{}", tag, r)));
  s.wait_keys(keys);
  std::vector<std::string> out;
  s.guarded("the store", [&] {
    for (const std::string& k : keys) out.push_back(string_of(s.store->get(k)));
    return 0;
  });
  return out;
}

std::optional<std::vector<std::string>> ProcessGroup::try_exchange(const std::string& tag, const std::string& value) {
  State& s = *state_;
  const int64_t w = s.config.world_size;
  std::vector<std::string> keys;
  for (int64_t r = 0; r < w; ++r) keys.push_back(s.key(fmt::format("x/{}/{}", tag, r)));
  return s.guarded("the store", [&]() -> std::optional<std::vector<std::string>> {
    if (!s.store->check({keys[s.config.rank]})) s.store->set(keys[s.config.rank], bytes_of(value));
    if (!s.store->check(keys)) return std::nullopt;
    std::vector<std::string> out;
    for (const std::string& k : keys) out.push_back(string_of(s.store->get(k)));
    return out;
  });
}

void ProcessGroup::check_same(const std::string& what, const std::string& fingerprint) {
  const std::vector<std::string> all = exchange("same/" + what, fingerprint);
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      throw GroupFailure(fmt::format("ranks disagree on {}: rank {} has {} where rank 0 has {} (give every rank the "
                                     "same model, input and options)",
                                     what, r, all[r], all[0]));
    }
  }
}

int64_t ProcessGroup::min_over_ranks(const std::string& tag, int64_t value) {
  int64_t out = value;
  for (const std::string& v : exchange("min/" + tag, std::to_string(value))) out = std::min<int64_t>(out, std::stoll(v));
  return out;
}

std::string ProcessGroup::broadcast(const std::string& tag, const std::string& value) {
  State& s = *state_;
  const std::string k = s.key("b/" + tag);
  if (is_root()) {
    s.guarded("the store", [&] {
      s.store->set(k, bytes_of(value));
      return 0;
    });
    return value;
  }
  s.wait_keys({k});
  return s.guarded("the store", [&] { return string_of(s.store->get(k)); });
}

std::vector<at::Tensor> ProcessGroup::gather_rows(const std::string& tag, const at::Tensor& local) {
  State& s = *state_;
  TORCH_CHECK(local.dim() == 2 && local.scalar_type() == at::kDouble,
              "ProcessGroup::gather_rows: expected a float64 [rows, columns] tensor, got ", local.sizes(), " ",
              local.scalar_type());
  // Gloo works on its own threads, outside any InferenceMode of the caller: plain tensors only.
  c10::InferenceMode plain(false);
  const std::vector<std::string> shapes = exchange("rows/" + tag, fmt::format("{} {}", local.size(0), local.size(1)));
  std::vector<int64_t> rows;
  int64_t most = 0;
  for (size_t r = 0; r < shapes.size(); ++r) {
    const auto space = shapes[r].find(' ');
    rows.push_back(std::stoll(shapes[r].substr(0, space)));
    const int64_t cols = std::stoll(shapes[r].substr(space + 1));
    if (cols != local.size(1)) {
      throw GroupFailure(fmt::format("gather {}: rank {} has {} columns where rank {} has {}", tag, r, cols,
                                     s.config.rank, local.size(1)));
    }
    most = std::max(most, rows.back());
  }
  at::Tensor padded = at::zeros({std::max<int64_t>(most, 1), local.size(1)}, at::kDouble);
  if (local.size(0) > 0) padded.slice(0, 0, local.size(0)).copy_(local);
  std::vector<at::Tensor> inputs{padded};
  std::vector<std::vector<at::Tensor>> outputs;
  if (is_root()) {
    outputs.emplace_back();
    for (int64_t r = 0; r < world_size(); ++r) outputs[0].push_back(at::empty_like(padded));
  }
  s.guarded("the Gloo gather", [&] {
    c10d::GatherOptions o;
    o.rootRank = 0;
    o.timeout = millis(s.config.timeout_seconds);
    auto work = s.gloo->gather(outputs, inputs, o);
    work->wait(o.timeout);
    return 0;
  });
  if (!is_root()) return {};
  std::vector<at::Tensor> out;
  for (int64_t r = 0; r < world_size(); ++r) out.push_back(outputs[0][r].slice(0, 0, rows[r]).clone());
  return out;
}

bool ProcessGroup::claim(const std::string& key) {
  State& s = *state_;
  return s.guarded("the store", [&] { return s.store->add(s.key("claim/" + key), 1) == 1; });
}

void ProcessGroup::send_to_root(const std::string& message) {
  State& s = *state_;
  TORCH_CHECK(!is_root(), "ProcessGroup::send_to_root: rank 0 keeps its own messages");
  s.guarded("the store", [&] {
    s.store->set(s.key(fmt::format("q/{}/{}", s.config.rank, s.sent)), bytes_of(message));
    s.store->add(s.key(fmt::format("q/{}/n", s.config.rank)), 1);
    return 0;
  });
  ++s.sent;
}

std::vector<std::string> ProcessGroup::receive_at_root() {
  State& s = *state_;
  TORCH_CHECK(is_root(), "ProcessGroup::receive_at_root: only rank 0 receives");
  std::vector<std::string> out;
  s.guarded("the store", [&] {
    for (int64_t r = 1; r < world_size(); ++r) {
      const int64_t n = s.store->add(s.key(fmt::format("q/{}/n", r)), 0);
      for (int64_t k = s.received[r]; k < n; ++k) {
        const std::string key = s.key(fmt::format("q/{}/{}", r, k));
        out.push_back(string_of(s.store->get(key)));
        s.store->deleteKey(key);
      }
      s.received[r] = std::max(s.received[r], n);
    }
    return 0;
  });
  return out;
}

void ProcessGroup::abort(const std::string& line) noexcept {
  try {
    State& s = *state_;
    s.store->compareSet(s.key("abort"), {}, bytes_of(line));
    s.store->add(s.key("gone"), 1);
    if (s.host) {
      // The store lives in this process, and the other ranks may still be
      // reading from it (the abort line, or the values of an exchange that
      // made this rank fail): it stays up until they have left too, or for
      // a short grace period.
      const auto until = std::chrono::steady_clock::now() + millis(std::min(s.config.timeout_seconds, 3.0));
      while (s.store->add(s.key("gone"), 0) < s.config.world_size && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  } catch (...) {
    // Best effort: the others still see this rank's heartbeat stop.
  }
}

void ProcessGroup::finish() {
  State& s = *state_;
  s.guarded("the store", [&] { return s.store->add(s.key(fmt::format("done/{}", s.config.rank)), 1); });
  if (is_root()) {
    std::vector<std::string> keys;
    for (int64_t r = 0; r < world_size(); ++r) keys.push_back(s.key(fmt::format("done/{}", r)));
    // done/R exists once rank R has added to it (the heartbeat thread's reads add 0 and create it too):
    // wait on the counts instead.
    while (true) {
      s.throw_if_failed();
      bool all = true;
      s.guarded("the store", [&] {
        for (const std::string& k : keys) all = all && s.store->add(k, 0) > 0;
        return 0;
      });
      if (all) break;
      std::unique_lock<std::mutex> lock(s.mutex);
      s.wake.wait_for(lock, std::chrono::milliseconds(20), [&] { return !s.failure.empty(); });
    }
  }
  s.stop();
}

void ProcessGroup::check() const { state_->throw_if_failed(); }

}  // namespace atman
