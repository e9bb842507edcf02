// POST /v1/explain: one explanation, answered whole or streamed as
// server-sent events ("progress" after every batch of passes, then "result"
// or "error"). A streamed explanation stops when its client goes away.

#include <memory>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "atman/base/text.h"
#include "base64.h"
#include "service.h"

namespace atman::serve {
namespace {

/// Thrown from the progress callback when a streamed request's client is gone.
struct ClientGone : std::runtime_error {
  ClientGone() : std::runtime_error("the client went away") {}
};

std::string sse_event(const char* event, const nlohmann::json& data) {
  return fmt::format("event: {}\ndata: {}\n\n", event, data.dump());
}

// A JSON body, or a multipart form with the JSON in part "request" and the picture as file "image".
ExplainCall read_explain_call(const httplib::Request& req) {
  if (!req.is_multipart_form_data()) return parse_explain_request(parse_json_object(req.body));
  if (!req.has_file("request")) throw bad_request("a multipart explain request needs a part named request (the JSON)");
  nlohmann::json body = parse_json_object(req.get_file_value("request").content);
  if (req.has_file("image")) {
    if (body.contains("image")) throw bad_request("image is given twice (a part and a field)");
    body["image"] = base64_encode(req.get_file_value("image").content);
  }
  return parse_explain_request(body);
}

}  // namespace

void Service::add_explain_routes() {
  route("POST", "/v1/explain", true, [this](const httplib::Request& req, httplib::Response& res) {
    const double start = steady_seconds();
    auto call = std::make_shared<ExplainCall>(read_explain_call(req));
    const ExplainerOf& model = explainer(call->model);
    if (!call->stream) {
      Admission::Ticket ticket(admission_);
      const ExplainReply reply = run_explain(model, *call, budget_, [&](const SweepProgress&) { check_deadline(start); });
      metrics_.add_forward_passes(reply.forward_passes);
      res.set_content(reply.document.dump(2) + "\n", "application/json");
      return;
    }
    // Streamed: the worker is taken now, so that a full queue is still a 503 (not a 200 with an error event).
    auto ticket = std::make_shared<Admission::Ticket>(admission_);
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "text/event-stream", [this, call, ticket, start, &model](size_t, httplib::DataSink& sink) {
          auto send = [&](const std::string& event) {
            if (!sink.write(event.data(), event.size())) throw ClientGone();
          };
          try {
            const ExplainReply reply = run_explain(model, *call, budget_, [&](const SweepProgress& p) {
              check_deadline(start);
              send(sse_event("progress", {{"passes_done", p.passes_done},
                                          {"passes_total", p.passes_total},
                                          {"elapsed_seconds", p.elapsed_seconds}}));
            });
            metrics_.add_forward_passes(reply.forward_passes);
            send(sse_event("result", reply.document));
          } catch (const ClientGone&) {
            return false;  // the sweep has unwound: its memory is freed
          } catch (const ApiError& e) {
            const std::string event = sse_event("error", {{"status", e.status}, {"error", first_line(e.what(), 400)}});
            sink.write(event.data(), event.size());
          } catch (const std::exception& e) {
            const std::string event = sse_event("error", {{"status", 500}, {"error", first_line(e.what(), 400)}});
            sink.write(event.data(), event.size());
          }
          sink.done();
          return true;
        });
  });
}

}  // namespace atman::serve
