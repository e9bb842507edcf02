#include "errors.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "atman/base/text.h"
#include "atman/io/error_text.h"

namespace atman::ops {

void throw_one_line(const std::string& message) {
  C10_THROW_ERROR(Error, atman::first_line(message, std::string::npos));
}

std::string describe(const at::Tensor& tensor) {
  if (!tensor.defined()) return "undefined";
  std::string out =
      fmt::format("{} [{}]", atman::dtype_name(tensor.scalar_type()), fmt::join(tensor.sizes(), ", "));
  if (!tensor.device().is_cpu()) out += " on " + tensor.device().str();
  return out;
}

}  // namespace atman::ops
