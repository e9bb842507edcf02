#include "request_fields.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "base64.h"

namespace atman::serve {
namespace {

std::string string_field(const nlohmann::json& body, const char* field) {
  const auto it = body.find(field);
  if (it == body.end()) return {};
  if (!it->is_string()) throw bad_request(fmt::format("{} must be a string", field));
  return it->get<std::string>();
}

const FlagField* find_flag(const std::vector<FlagField>& flags, const std::string& field) {
  for (const FlagField& f : flags) {
    if (f.field == field) return &f;
  }
  return nullptr;
}

// A flag and its value as words: "--flag=value", so that a value starting
// with '-' stays a value; an empty value as two words (CLI11 would take the
// next word as the value of "--flag=").
void append_value(std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  if (value.empty()) {
    argv.push_back(flag);
    argv.push_back(value);
  } else {
    argv.push_back(flag + "=" + value);
  }
}

// One option field as words: a flag by presence when true; a value is a
// string or a number (in its shortest exact decimal form).
void append_option(std::vector<std::string>& argv, const FlagField& flag, const nlohmann::json& value) {
  if (!flag.takes_value) {
    if (!value.is_boolean()) throw bad_request(fmt::format("{} must be true or false", flag.field));
    if (value.get<bool>()) argv.push_back(flag.flag);
  } else if (value.is_string()) {
    append_value(argv, flag.flag, value.get<std::string>());
  } else if (value.is_number_integer()) {
    append_value(argv, flag.flag, value.dump());
  } else if (value.is_number_float()) {
    append_value(argv, flag.flag, fmt::format("{}", value.get<double>()));
  } else {
    throw bad_request(fmt::format("{} must be a string or a number", flag.field));
  }
}

}  // namespace

bool optional_bool(const nlohmann::json& body, const char* field) {
  const auto it = body.find(field);
  if (it == body.end()) return false;
  if (!it->is_boolean()) throw bad_request(fmt::format("{} must be true or false", field));
  return it->get<bool>();
}

const std::set<std::string>& call_fields() {
  static const std::set<std::string> fields = {"model", "prompt", "question", "target", "image", "overlay", "stream"};
  return fields;
}

const std::set<std::string>& refused_fields() {
  static const std::set<std::string> fields = {
      "model",       "image",       "json",  "html",       "overlay",          "top",         "quiet",
      "verbose",     "groups",      "max_memory", "distributed", "rank",      "world_size",  "local_rank",
      "local_world_size", "master_addr", "master_port", "timeout", "processes"};
  return fields;
}

nlohmann::json parse_json_object(const std::string& text) {
  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) throw bad_request("malformed JSON body");
  if (!body.is_object()) throw bad_request("the body must be a JSON object");
  return body;
}

CallFields read_call_fields(const nlohmann::json& body, const std::vector<FlagField>& flags) {
  CallFields out;
  out.model = string_field(body, "model");
  if (out.model.empty()) throw bad_request("model is missing (a served model's name)");
  if (!body.contains("target")) throw bad_request("target is missing (the answer to explain)");
  if (body.contains("prompt") == body.contains("question")) throw bad_request("give exactly one of prompt and question");
  out.overlay = optional_bool(body, "overlay");
  out.stream = optional_bool(body, "stream");
  if (body.contains("image")) {
    const std::string image = string_field(body, "image");
    try {
      out.image_bytes = base64_decode(image);
    } catch (const std::invalid_argument& e) {
      throw bad_request(std::string("image: ") + e.what());
    }
    if (out.image_bytes.empty()) throw bad_request("image is empty");
  }
  if (out.overlay && out.image_bytes.empty()) throw bad_request("overlay needs an image");
  const bool question = body.contains("question");
  append_value(out.argv, "--model", "served:" + out.model);
  append_value(out.argv, "--target", string_field(body, "target"));
  append_value(out.argv, question ? "--question" : "--prompt", string_field(body, question ? "question" : "prompt"));
  for (const auto& [field, value] : body.items()) {
    if (call_fields().count(field)) continue;
    const FlagField* flag = find_flag(flags, field);
    if (!flag) throw bad_request(fmt::format("unknown field {}", field));
    if (refused_fields().count(field)) {
      throw bad_request(fmt::format("field {} is not taken by the service (docs/serve.md)", field));
    }
    append_option(out.argv, *flag, value);
  }
  return out;
}

}  // namespace atman::serve
