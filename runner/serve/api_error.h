#pragma once
// A request the service refuses: the HTTP status and one line naming the
// problem; the reply's body is {"error": message}.

#include <stdexcept>
#include <string>

namespace atman::serve {

struct ApiError : std::runtime_error {
  ApiError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

/// 400 Bad Request with `message`.
inline ApiError bad_request(const std::string& message) { return ApiError(400, message); }

}  // namespace atman::serve
