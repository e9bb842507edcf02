#pragma once
// Pieces of one-line error messages, shared by the model loader, the pass
// runners and the op library.

#include <string>

#include <c10/core/ScalarType.h>

namespace atman {

/// The first line of `text` (LibTorch and OpenCV messages span lines), cut
/// at `max_chars` characters with "..." appended.
std::string first_line(const std::string& text, size_t max_chars = 200);

/// `text` for a one-line message: quoted, control characters escaped (\n,
/// \t, \xHH), at most 40 characters (valid UTF-8 in, valid UTF-8 out).
std::string quoted_text(const std::string& text);

/// "float32", "int64", "bool", ...: numpy-style dtype names, as users write them.
std::string dtype_name(at::ScalarType type);

}  // namespace atman
