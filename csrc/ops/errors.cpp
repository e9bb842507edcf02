#include "errors.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

namespace atman::ops {
namespace {

const char* dtype_name(at::ScalarType type) {
  switch (type) {
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kShort: return "int16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBool: return "bool";
    default: return c10::toString(type);
  }
}

}  // namespace

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

void throw_one_line(const std::string& message) { C10_THROW_ERROR(Error, first_line(message)); }

std::string describe(const at::Tensor& tensor) {
  if (!tensor.defined()) return "undefined";
  std::string out = fmt::format("{} [{}]", dtype_name(tensor.scalar_type()), fmt::join(tensor.sizes(), ", "));
  if (!tensor.device().is_cpu()) out += " on " + tensor.device().str();
  return out;
}

}  // namespace atman::ops
