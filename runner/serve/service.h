#pragma once
// `atman serve`: the HTTP service over loaded models (docs/serve.md).
//
//   ServeSettings settings;  settings.models = {"tiny=torchscript_models/tiny_magma.pt"};
//   Service service(settings);          // loads every model once
//   int port = service.bind();          // loopback unless settings.host says otherwise
//   service.run();                      // until stop(), e.g. from a SIGTERM thread
//
// Routes: GET / (the page), GET /healthz, GET /metrics, GET /v1/models,
// POST /v1/explain, /v1/answer, /v1/tokenize, /v1/generate, and POST /explain
// (Aleph Alpha's explanation request). Every refusal is a 4xx or 5xx whose
// body is {"error": "one line"}; the server goes on.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "admission.h"
#include "atman/runtime/resource_limits.h"
#include "explain_service.h"
#include "metrics.h"
#include "served_models.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace atman::serve {

struct ServeSettings {
  std::vector<std::string> models;  // NAME=PATH
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  int64_t workers = 1;
  int64_t queue = 16;
  std::string token_file;  // empty: no token
  int64_t max_body_mb = 32;
  double timeout_seconds = 600;
  int64_t max_memory_mb = 0;  // 0: the machine's available memory
};

class Service {
 public:
  explicit Service(const ServeSettings& settings);
  ~Service();

  /// Binds the listening socket; returns its port. Throws with one line when it cannot.
  int bind();
  /// Serves until stop(); the requests in flight are finished first.
  void run();
  /// Stops accepting (any thread, e.g. a signal's).
  void stop();

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  void add_routes();
  void add_explain_routes();
  void add_text_routes();
  // The text routes' handlers (text_routes.cpp).
  void tokenize(const httplib::Request& request, httplib::Response& response);
  void answer(const httplib::Request& request, httplib::Response& response);
  void generate(const httplib::Request& request, httplib::Response& response);
  void add_aleph_alpha_route();
  /// Registers `handler` for METHOD path with authentication, one-line JSON
  /// errors for whatever it throws, and metrics.
  void route(const std::string& method, const std::string& path, bool needs_token, Handler handler);
  void check_token(const httplib::Request& request) const;
  const ExplainerOf& explainer(const std::string& model_name) const;
  /// Throws ApiError 504 once the request has run past --timeout.
  void check_deadline(double started_seconds) const;

  ServeSettings settings_;
  ServedModels models_;
  std::map<std::string, ExplainerOf> explainers_;
  std::string token_;
  Admission admission_;
  Metrics metrics_;
  MemoryBudget budget_;
  std::unique_ptr<httplib::Server> server_;
};

/// Seconds on a steady clock (for deadlines and latencies).
double steady_seconds();

/// Whether two strings are equal, in time that depends on their lengths only.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace atman::serve
