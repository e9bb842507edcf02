// `atman serve`: the explanation service and its page (docs/serve.md).
// SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0.

#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.h"
#include "flag_checks.h"
#include "serve/service.h"

namespace atman::runner {
namespace {

void check_settings(const serve::ServeSettings& s) {
  check_int_flag("--port", s.port, 0, 65535);
  check_int_flag("--workers", s.workers, 1, 256);
  check_int_flag("--queue", s.queue, 0, 4096);
  check_int_flag("--max-body-mb", s.max_body_mb, 1, 4096);
  check_int_flag("--max-memory", s.max_memory_mb, 0, kMaxMemoryMb);
  check_real_flag("--timeout", s.timeout_seconds, 0.001, 1e7);
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The signals that stop the service, taken by one thread (sigtimedwait) so
// that they never interrupt a request: blocked before any thread starts.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

int run_serve(const serve::ServeSettings& settings) {
  check_settings(settings);
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // every thread started from here inherits it
  // Requests compute on whichever HTTP thread took them, and glibc gives
  // threads arenas of their own that keep a sweep's freed memory: without a
  // cap the resident memory grows with the threads that ever computed.
  mallopt(M_ARENA_MAX, static_cast<int>(settings.workers) + 1);
  serve::Service service(settings);
  const int port = service.bind();
  if (!is_loopback(settings.host) && settings.token_file.empty()) {
    std::fprintf(stderr, "atman serve: warning: listening on %s without --token-file: anyone who reaches it may use it\n",
                 settings.host.c_str());
  }
  std::printf("atman serve: listening on http://%s:%d/\n", settings.host.c_str(), port);
  std::fflush(stdout);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!done) {
      const int signal = sigtimedwait(&signals, nullptr, &tick);
      if (signal > 0) {
        std::fprintf(stderr, "atman serve: %s: finishing the requests in flight\n", strsignal(signal));
        service.stop();
        return;
      }
    }
  });
  service.run();  // returns after stop(); the workers finish their requests first
  done = true;
  watcher.join();
  std::printf("atman serve: stopped\n");
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto s = std::make_shared<serve::ServeSettings>();
  CLI::App* sub = app.add_subcommand("serve", "Serve explanations over HTTP, with a page (docs/serve.md)");
  sub->add_option("--model", s->models, "A model to serve as NAME=PATH (repeat for more)")->required();
  sub->add_option("--host", s->host, "Address to listen on (loopback unless said otherwise)")->capture_default_str();
  sub->add_option("--port", s->port, "Port (0: any free port, printed at start)")->capture_default_str();
  sub->add_option("--workers", s->workers, "Requests computed at once")->capture_default_str();
  sub->add_option("--queue", s->queue, "Requests waiting for a worker; more are answered 503")->capture_default_str();
  sub->add_option("--token-file", s->token_file,
                  "File holding the bearer token every request but GET /healthz and the page's files must send");
  sub->add_option("--max-body-mb", s->max_body_mb, "Largest request body in MB")->capture_default_str();
  sub->add_option("--timeout", s->timeout_seconds, "Seconds a request may compute before it is stopped (504)")
      ->capture_default_str();
  sub->add_option("--max-memory", s->max_memory_mb,
                  "Memory budget in MB each request is checked against (0: this machine's available memory)")
      ->capture_default_str();
  return {sub, [s] { return run_serve(*s); }};
}

}  // namespace atman::runner
