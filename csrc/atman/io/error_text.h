#pragma once
// Pieces of one-line error messages about inputs, shared by the model
// loader, the pass runners and the op library (first_line: base/text.h).

#include <string>

#include <c10/core/ScalarType.h>

namespace atman {

/// `text` for a one-line message: quoted, control characters escaped (\n,
/// \t, \xHH), at most 40 characters (valid UTF-8 in, valid UTF-8 out).
std::string quoted_text(const std::string& text);

/// "float32", "int64", "bool", ...: numpy-style dtype names, as users write them.
std::string dtype_name(at::ScalarType type);

}  // namespace atman
