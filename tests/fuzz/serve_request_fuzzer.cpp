// libFuzzer target: the service's request parsing (runner/serve/request_fields.h):
// any bytes as the body of POST /v1/explain, and as base64 text.
//
// Properties: a body is either read into a call or refused with ApiError (a
// 4xx status, a one-line message); nothing else escapes. A call's words are
// "--flag" or "--flag=value" of known flags only, or an empty value. base64 text is decoded or
// refused with std::invalid_argument, and what decodes encodes back to the
// same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_error.h"
#include "base64.h"
#include "request_fields.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

// A few of explain's flags, of both kinds, and refused ones.
const std::vector<atman::serve::FlagField> kFlags = {
    {"suppression_factor", "--suppression-factor", true}, {"granularity", "--granularity", true},
    {"image_granularity", "--image-granularity", true},   {"normalize", "--normalize", false},
    {"contrast", "--contrast", true},                     {"json", "--json", true},
    {"groups", "--groups", true},                         {"quiet", "--quiet", false}};

bool known_word(const std::string& word) {
  for (const auto& f : kFlags) {
    if (word == f.flag || word.rfind(f.flag + "=", 0) == 0) return true;
  }
  for (const char* own : {"--model", "--target", "--prompt", "--question"}) {
    if (word == own || word.rfind(std::string(own) + "=", 0) == 0) return true;
  }
  return word.empty();  // the value of "--flag" ""
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  try {
    const atman::serve::CallFields call = atman::serve::read_call_fields(atman::serve::parse_json_object(input), kFlags);
    require(!call.model.empty(), "a read call names a model");
    require(call.argv.size() >= 3, "a read call has the model, the target and the prompt");
    for (const std::string& word : call.argv) require(known_word(word), "every word is a known flag");
    require(!call.overlay || !call.image_bytes.empty(), "an overlay has an image");
  } catch (const atman::serve::ApiError& e) {
    require(e.status >= 400 && e.status < 500, "a refused body is a 4xx");
    require(std::string(e.what()).find('\n') == std::string::npos, "a refusal is one line");
  }
  try {
    const std::string bytes = atman::serve::base64_decode(input);
    require(atman::serve::base64_decode(atman::serve::base64_encode(bytes)) == bytes, "base64 round trip");
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
