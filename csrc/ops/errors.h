#pragma once
// Errors of the op library: whatever the core throws (std::runtime_error,
// std::invalid_argument, c10::Error) leaves every public entry point as a
// c10::Error carrying the same one line that `atman explain` prints after
// "atman: error: ". Python sees RuntimeError(<that line>); nothing aborts.

#include <exception>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace atman::ops {

/// The text up to the first newline.
std::string first_line(const std::string& text);

/// Throws c10::Error whose what_without_backtrace() is first_line(message).
[[noreturn]] void throw_one_line(const std::string& message);

/// Runs fn() and rethrows any exception as throw_one_line(its message), the
/// way the command line's main() turns exceptions into its error line.
///
///   return with_one_line_errors([&] { return core_call(); });
template <typename Fn>
auto with_one_line_errors(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    throw_one_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw_one_line(e.what());
  } catch (...) {
    throw_one_line("unknown failure");
  }
}

/// "float32 [3, 8, 8]" (dtype in Python's spelling, then the sizes); "undefined".
std::string describe(const at::Tensor& tensor);

}  // namespace atman::ops
