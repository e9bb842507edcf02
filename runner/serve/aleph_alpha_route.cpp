// POST /explain: Aleph Alpha's explanation request on a served model (aleph_alpha.h).

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "aleph_alpha.h"
#include "api_error.h"
#include "service.h"

namespace atman::serve {

void Service::add_aleph_alpha_route() {
  route("POST", "/explain", true, [this](const httplib::Request& req, httplib::Response& res) {
    const double start = steady_seconds();
    const nlohmann::json body = parse_json_object(req.body);
    const std::string name = body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>() : "";
    if (name.empty()) throw ApiError(400, "model must be a served model's name");
    const ExplainerOf& model = explainer(name);
    const AlephAlphaCall request = parse_aleph_alpha_request(body, *model.served->model);
    Admission::Ticket ticket(admission_);
    const ExplainReply reply = run_explain(model, request.call, budget_, [&](const SweepProgress&) { check_deadline(start); });
    metrics_.add_forward_passes(reply.forward_passes);
    const std::string version = "atman-cpp " + model.served->model->config().name;
    res.set_content(aleph_alpha_response(request, reply.explanation, *model.served->model, version).dump() + "\n",
                    "application/json");
  });
}

}  // namespace atman::serve
