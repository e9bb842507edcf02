#pragma once
// Errors of the op library: whatever the core throws (std::runtime_error,
// std::invalid_argument, c10::Error) leaves every public entry point as a
// c10::Error carrying the same one line that `atman explain` prints after
// "atman: error: ". Python sees RuntimeError(<that line>); nothing aborts.

#include <exception>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "atman/base/text.h"

namespace atman::ops {

/// Throws c10::Error whose what_without_backtrace() is the first line of `message`.
[[noreturn]] void throw_one_line(const std::string& message);

/// Runs fn() and rethrows any exception as throw_one_line(its message), the
/// way the command line's main() turns exceptions into its error line.
///
///   return with_one_line_errors([&] { return core_call(); });
template <typename Fn>
auto with_one_line_errors(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    throw_one_line(one_line_message(e));
  } catch (...) {
    throw_one_line("unknown failure");
  }
}

/// "float32 [3, 8, 8]" (dtype in Python's spelling, then the sizes); "undefined".
std::string describe(const at::Tensor& tensor);

}  // namespace atman::ops
