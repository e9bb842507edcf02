#pragma once
// Text from users and tokenizers made safe to show: valid UTF-8 without
// control characters (HTML report, terminal summary).

#include <string>

namespace atman {

/// Invalid UTF-8, C0 and C1 controls and DEL become U+FFFD. With
/// `keep_layout`, '\n' and '\t' stay as they are (the prompt as written);
/// without it they are written as the two characters \n and \t (one line).
std::string without_controls(const std::string& raw, bool keep_layout);

}  // namespace atman
