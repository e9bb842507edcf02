#pragma once
// Aleph Alpha's explanation request (POST /explain, as the public
// aleph-alpha-client's ExplanationRequest.to_json writes it) mapped onto an
// AtMan explanation, and the explanation mapped back onto its response
// (docs/serve.md, "Aleph Alpha's /explain"): one item per prompt item, in
// characters of that item or in 0-1 coordinates of that image, the target last.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "atman/core/explanation.h"
#include "atman/model/model.h"
#include "explain_request.h"

namespace atman::serve {

/// Where each prompt item went in the prompt the request became.
struct PromptItem {
  std::string type;          // "text" or "image"
  int64_t byte_begin = 0;    // text: its bytes in the prompt
  int64_t byte_end = 0;
  std::string text;          // text: the item's data
};

struct AlephAlphaCall {
  ExplainCall call;
  std::vector<PromptItem> items;
};

/// The call a request asks for, for a model with or without an image tower
/// (its image grid's side bounds the tiles of prompt_granularity) . ApiError
/// 400 naming the field for what is malformed, unknown or not mapped (a
/// token_ids item, controls, a second image, a crop outside the picture).
AlephAlphaCall parse_aleph_alpha_request(const nlohmann::json& body, const Model& model);

/// The response for the explanation of `request`: its model_version is `model_version`.
nlohmann::json aleph_alpha_response(const AlephAlphaCall& request, const Explanation& e, const Model& model,
                                    const std::string& model_version);

}  // namespace atman::serve
