// POST /v1/answer (the greedy answer), /v1/tokenize (ids and pieces) and
// /v1/generate (steered generation, optionally streamed token by token).

#include <functional>
#include <memory>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "atman/base/text.h"
#include "atman/generate/steering.h"
#include "atman/io/image.h"
#include "atman/model/answer.h"
#include "atman/model/sequence.h"
#include "base64.h"
#include "service.h"
#include "text_fields.h"
#include "token_documents.h"

namespace atman::serve {
namespace {

using runner::ids_document;
using runner::prompt_document;

SteeringOptions steering_options(const nlohmann::json& body) {
  SteeringOptions options;
  for (const std::string& span : optional_strings(body, "suppress")) {
    options.controls.push_back({ControlKind::kSuppress, span});
  }
  for (const std::string& span : optional_strings(body, "amplify")) {
    options.controls.push_back({ControlKind::kAmplify, span});
  }
  options.suppress_factor = optional_number(body, "suppress_factor", options.suppress_factor);
  options.amplify_factor = optional_number(body, "amplify_factor", options.amplify_factor);
  if (body.contains("conceptual_threshold")) {
    options.conceptual_threshold = optional_number(body, "conceptual_threshold", 0.0);
  }
  options.max_tokens = optional_integer(body, "max_tokens", 32, 1, 4096);
  check_steering_options(options);
  return options;
}

nlohmann::json generated_json(const Tokenizer& tokenizer, const GeneratedText& g) {
  nlohmann::json out = ids_document(tokenizer, g.ids);
  out["text"] = g.text;
  out["stop"] = g.stop;
  out["seconds"] = g.seconds;
  return out;
}

// Streams a generation as server-sent events: a token event per generated
// token, then the result (or one error event); the ticket is held until the end.
void stream_generation(httplib::Response& res, std::shared_ptr<Admission::Ticket> ticket, const Tokenizer& tokenizer,
                       std::function<nlohmann::json(const std::function<void(bool, int64_t)>&)> generate) {
  res.set_header("Cache-Control", "no-store");
  res.set_chunked_content_provider("text/event-stream", [generate, ticket, &tokenizer](size_t,
                                                                                      httplib::DataSink& sink) {
    auto send = [&](const char* event, const nlohmann::json& data) {
      const std::string text = fmt::format("event: {}\ndata: {}\n\n", event, data.dump());
      if (!sink.write(text.data(), text.size())) throw std::runtime_error("the client went away");
    };
    try {
      const nlohmann::json result = generate([&](bool steered, int64_t id) {
        send("token", {{"run", steered ? "steered" : "unsteered"}, {"id", id}, {"piece", tokenizer.vocab_piece(id)}});
      });
      send("result", result);
    } catch (const ApiError& e) {
      try {
        send("error", {{"status", e.status}, {"error", first_line(e.what(), 400)}});
      } catch (...) {
      }
    } catch (const std::exception& e) {
      try {
        send("error", {{"status", 400}, {"error", first_line(e.what(), 400)}});
      } catch (...) {
      }
    }
    sink.done();
    return true;
  });
}

}  // namespace

void Service::add_text_routes() {
  using Request = httplib::Request;
  using Response = httplib::Response;
  route("POST", "/v1/tokenize", true, [this](const Request& req, Response& res) { tokenize(req, res); });
  route("POST", "/v1/answer", true, [this](const Request& req, Response& res) { answer(req, res); });
  route("POST", "/v1/generate", true, [this](const Request& req, Response& res) { generate(req, res); });
}

void Service::tokenize(const httplib::Request& req, httplib::Response& res) {
  const nlohmann::json body = parse_json_object(req.body);
  check_fields(body, {"model", "text", "prompt", "question"});
  const Model& model = *explainer(required_string(body, "model")).served->model;
  const int given = body.contains("text") + body.contains("prompt") + body.contains("question");
  if (given != 1) throw bad_request("give exactly one of text, prompt and question");
  nlohmann::json doc;
  if (body.contains("text")) {
    const std::string text = required_string(body, "text");
    check_input_text(text, "text");
    doc = ids_document(model.tokenizer(), model.tokenizer().encode(text));
  } else {
    const std::string prompt = prompt_of(body, model.config());
    check_input_text(prompt, "prompt");
    doc = prompt_document(model, prompt, prompt_ids(model.config(), model.tokenizer(), prompt));
  }
  res.set_content(doc.dump() + "\n", "application/json");
}

void Service::answer(const httplib::Request& req, httplib::Response& res) {
  const nlohmann::json body = parse_json_object(req.body);
  check_fields(body, {"model", "prompt", "question", "image", "max_tokens"});
  const Model& model = *explainer(required_string(body, "model")).served->model;
  const std::string prompt = prompt_of(body, model.config());
  const int64_t max_tokens = optional_integer(body, "max_tokens", 16, 1, 4096);
  const cv::Mat image = image_of(body, model, budget_);
  Admission::Ticket ticket(admission_);
  const GreedyAnswer greedy = greedy_answer(model, prompt, image, max_tokens);
  res.set_content(nlohmann::json{{"answer", greedy.text}, {"ids", greedy.ids}}.dump() + "\n", "application/json");
}

void Service::generate(const httplib::Request& req, httplib::Response& res) {
  const double start = steady_seconds();
  const nlohmann::json body = parse_json_object(req.body);
  check_fields(body, {"model", "prompt", "question", "image", "suppress", "amplify", "suppress_factor",
                      "amplify_factor", "conceptual_threshold", "max_tokens", "stream"});
  const Model& model = *explainer(required_string(body, "model")).served->model;
  auto request = std::make_shared<GenerateRequest>();
  request->prompt = prompt_of(body, model.config());
  request->image = image_of(body, model, budget_);
  request->options = steering_options(body);
  const bool stream = optional_bool(body, "stream");
  auto run = [this, &model, request, start](const std::function<void(bool, int64_t)>& on_token) {
    SteeringOptions options = request->options;
    options.on_token = [&](bool steered, int64_t id) {
      check_deadline(start);
      if (on_token) on_token(steered, id);
    };
    const SteeredGeneration g = steer(model, request->prompt, request->image, options);
    return nlohmann::json{{"steered", generated_json(model.tokenizer(), g.steered)},
                          {"unsteered", generated_json(model.tokenizer(), g.unsteered)}};
  };
  if (!stream) {
    Admission::Ticket ticket(admission_);
    res.set_content(run({}).dump() + "\n", "application/json");
    return;
  }
  stream_generation(res, std::make_shared<Admission::Ticket>(admission_), model.tokenizer(), run);
}

}  // namespace atman::serve
