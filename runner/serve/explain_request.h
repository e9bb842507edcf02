#pragma once
// The body of POST /v1/explain (docs/serve.md): which model, the prompt or
// question, the target, the image as base64, and every option of
// `atman explain` under its long flag name with underscores
// ("conceptual_threshold": "off", "image_granularity": "6"). The options
// are read by the command line's own flag definitions (runner/explain_flags.h),
// so that their checks and defaults are the command's.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "../explain_flags.h"
#include "request_fields.h"

namespace atman::serve {

struct ExplainCall {
  std::string model;  // a served model's name
  runner::ExplainArgs args;
  std::string image_bytes;  // the encoded picture (PNG, JPEG, ...); empty: none
  bool overlay = false;     // add the overlay PNG (base64) as "overlay_png"
  bool stream = false;      // progress as server-sent events, the document last
};

/// The call a body asks for. ApiError 400 naming the field for an unknown
/// field, a field of the command line the service does not take (files,
/// ranks, terminal output), a wrong type, bad base64, or an option value
/// `atman explain` refuses.
ExplainCall parse_explain_request(const nlohmann::json& body);

/// The option fields a body may carry, in the order of `atman explain --help`.
std::vector<std::string> explain_option_fields();

/// Reads `argv` (flags of `atman explain`, without the program's name) into
/// args with the command's own definitions; ApiError 400 with CLI11's message,
/// flags named as fields (--image-granularity -> image_granularity).
runner::ExplainArgs parse_explain_flags(const std::vector<std::string>& argv);

}  // namespace atman::serve
