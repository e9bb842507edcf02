#pragma once
// Text helpers every layer uses: the first line of a message, an exception
// as one line, trimming and splitting. The lowest layer: it includes nothing
// of the project.

#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace atman {

/// The first line of `text` (LibTorch and OpenCV messages span lines), cut
/// at `max_chars` characters with "..." appended. Only '\n' ends a line.
std::string first_line(std::string_view text, size_t max_chars = 200);

/// What `e` says, on one line and uncut: a c10::Error without its C++
/// backtrace, any other exception's what().
std::string one_line_message(const std::exception& e);

/// `text` without the `blanks` at either end.
std::string trimmed(std::string_view text, std::string_view blanks = " \t\r\n");

/// `text` cut at every `sep`; a trailing separator gives a last empty part,
/// an empty text gives no parts.
std::vector<std::string> split(std::string_view text, char sep);

}  // namespace atman
