#pragma once
// The summary `atman explain` prints on stdout: the target, the prompt
// coloured by relevance, the image patch grid as a small heat map, and the
// top units as an aligned table.
//
// Usage:
//   const bool colour = isatty(STDOUT_FILENO);  // the tool decides, not the library
//   std::cout << atman::format_terminal_summary(explanation, colour);

#include <string>

#include "atman/core/explanation.h"

namespace atman {

/// How the summary is coloured.
enum class TerminalColour {
  kNone,        // plain text: no escape bytes at all
  kAnsi256,     // xterm 256-colour backgrounds (nearly every terminal)
  kTrueColour,  // 24-bit backgrounds (COLORTERM=truecolor terminals)
};

/// The summary as text ending in a newline. Text units use the diverging
/// red/blue scale of overlay.h (text_background_rgb); without colour, units
/// with at least half of the largest positive relevance are shown [bracketed].
/// Image units appear as a grid (up to 64 columns): coloured cells, or
/// without colour the characters " .:-=+*#%@" for 0 .. max. The table lists
/// the `top_k` units by relevance, descending (all when top_k <= 0). Control
/// characters and invalid UTF-8 in pieces are made visible, never sent raw.
std::string format_terminal_summary(const Explanation& explanation, TerminalColour colour, int top_k = 10);

/// As above; `ansi_colour` selects kAnsi256 or kNone.
std::string format_terminal_summary(const Explanation& explanation, bool ansi_colour, int top_k = 10);

}  // namespace atman
