#include "service.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "atman/base/text.h"
#include "web_assets.h"

namespace atman::serve {
namespace {

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  if (status == 503) res.set_header("Retry-After", "1");
  res.set_content(nlohmann::json{{"error", first_line(message, 400)}}.dump() + "\n", "application/json");
}

std::string read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("--token-file " + path + ": cannot read it");
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16) throw std::runtime_error("--token-file " + path + ": the token must have at least 16 characters");
  return token;
}

const char* status_text(int status) {
  switch (status) {
    case 400: return "bad request";
    case 401: return "a bearer token is needed (Authorization: Bearer ...)";
    case 404: return "no such endpoint";
    case 405: return "method not allowed";
    case 413: return "the body is over --max-body-mb";
    case 414: return "the request line is too long";
    default: return "the request failed";
  }
}

}  // namespace

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Service::Service(const ServeSettings& settings)
    : settings_(settings),
      models_(settings.models),
      admission_(settings.workers, settings.queue),
      budget_(settings.max_memory_mb),
      server_(std::make_unique<httplib::Server>()) {
  if (!settings.token_file.empty()) token_ = read_token(settings.token_file);
  for (const auto& [name, served] : models_.all()) {
    explainers_[name] = ExplainerOf{&served, std::make_shared<const Explainer>(served.model)};
  }
  // Connections beyond the computing workers and their queue are answered 503 by Admission.
  const size_t threads = static_cast<size_t>(settings.workers + settings.queue + 2);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(static_cast<size_t>(settings.max_body_mb) << 20);
  server_->set_read_timeout(30, 0);
  server_->set_write_timeout(30, 0);
  server_->set_keep_alive_max_count(100);
  // httplib's own refusals (no route, body over the limit, a bad request line) get a JSON body too.
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) reply_error(res, res.status, status_text(res.status));
  });
  add_routes();
}

Service::~Service() = default;

int Service::bind() {
  if (settings_.port == 0) {
    const int port = server_->bind_to_any_port(settings_.host);
    if (port <= 0) throw std::runtime_error("cannot listen on " + settings_.host + " (any port)");
    return port;
  }
  if (!server_->bind_to_port(settings_.host, settings_.port)) {
    throw std::runtime_error(fmt::format("cannot listen on {}:{} (in use, or not an address of this host)",
                                         settings_.host, settings_.port));
  }
  return settings_.port;
}

void Service::run() { server_->listen_after_bind(); }

void Service::stop() { server_->stop(); }

void Service::check_token(const httplib::Request& request) const {
  if (token_.empty()) return;
  const std::string header = request.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (header.compare(0, prefix.size(), prefix) != 0 || !constant_time_equal(header.substr(prefix.size()), token_)) {
    throw ApiError(401, "a valid bearer token is needed (Authorization: Bearer ...)");
  }
}

void Service::check_deadline(double started_seconds) const {
  if (steady_seconds() - started_seconds > settings_.timeout_seconds) {
    throw ApiError(504, fmt::format("the request ran past --timeout {} s", settings_.timeout_seconds));
  }
}

const ExplainerOf& Service::explainer(const std::string& model_name) const {
  return explainers_.at(models_.find(model_name).name);
}

void Service::route(const std::string& method, const std::string& path, bool needs_token, Handler handler) {
  auto wrapped = [this, path, needs_token, handler](const httplib::Request& req, httplib::Response& res) {
    const double start = steady_seconds();
    try {
      if (needs_token) check_token(req);
      handler(req, res);
    } catch (const ApiError& e) {
      reply_error(res, e.status, e.what());
    } catch (const nlohmann::json::exception& e) {
      reply_error(res, 400, e.what());
    } catch (const std::invalid_argument& e) {
      reply_error(res, 400, e.what());
    } catch (const c10::Error& e) {
      reply_error(res, 500, e.what_without_backtrace());
    } catch (const std::exception& e) {
      reply_error(res, 500, e.what());
    }
    metrics_.record_request(path, res.status < 0 ? 200 : res.status, steady_seconds() - start);  // -1: httplib's 200
  };
  if (method == "GET") {
    server_->Get(path, wrapped);
  } else {
    server_->Post(path, wrapped);
  }
}

void Service::add_routes() {
  // The page's files hold no data: a browser navigating to them cannot send a token.
  for (const WebAsset& asset : web_assets()) {
    route("GET", asset.path, false, [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(asset.content, asset.content_type);
    });
  }
  route("GET", "/healthz", false, [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  });
  route("GET", "/metrics", true, [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(admission_.running(), admission_.waiting()), "text/plain; version=0.0.4");
  });
  route("GET", "/v1/models", true, [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [name, served] : models_.all()) {
      const ModelConfig& config = served.model->config();
      nlohmann::json entry = {{"name", name},
                              {"model", config.name},
                              {"image", served.model->has_image()},
                              {"layers", config.num_layers},
                              {"width", config.hidden_size},
                              {"vocab_size", config.vocab_size},
                              {"max_positions", config.max_positions},
                              {"prompt_template", config.prompt_template}};
      list.push_back(std::move(entry));
    }
    res.set_content(nlohmann::json{{"models", list}}.dump(2) + "\n", "application/json");
  });
  add_explain_routes();
  add_text_routes();
  add_aleph_alpha_route();
}

}  // namespace atman::serve
