#pragma once
// The first step of reading POST /v1/explain: the JSON body's fields checked
// and written as command-line words for explain's flags, without the flag
// definitions themselves (explain_request.h reads those words with them).
// Kept apart so that the fuzzer runs it alone (tests/fuzz/serve_request_fuzzer.cpp).

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace atman::serve {

/// One flag of `atman explain` as a body field: "image_granularity" for --image-granularity.
struct FlagField {
  std::string field;
  std::string flag;         // "--image-granularity"
  bool takes_value = true;  // false: a flag given by presence (a bool field)
};

/// What the body asks for apart from the flags.
struct CallFields {
  std::string model;
  std::string image_bytes;  // decoded from base64; empty: none
  bool overlay = false;
  bool stream = false;
  std::vector<std::string> argv;  // "--flag=value" words, the prompt's and target's first
};

/// Fields the service reads itself (model, prompt, question, target, image, overlay, stream).
const std::set<std::string>& call_fields();
/// Flags of `atman explain` the service does not take (files, ranks, terminal output, the memory budget).
const std::set<std::string>& refused_fields();

/// Checks the body against `flags` and writes it as words. ApiError 400
/// naming the field: missing model or target, both or neither of prompt and
/// question, a wrong type, an unknown or refused field, bad base64, overlay
/// without an image.
CallFields read_call_fields(const nlohmann::json& body, const std::vector<FlagField>& flags);

/// `field` of `body` as a bool, false when absent; ApiError 400 "F must be true or false".
bool optional_bool(const nlohmann::json& body, const char* field);

/// Parses `text` as one JSON object; ApiError 400 otherwise.
nlohmann::json parse_json_object(const std::string& text);

}  // namespace atman::serve
