#pragma once
// Where the characters of each text position lie in the prompt or the
// target: what character-based units (paragraphs, delimiters, custom
// groups' spans) are mapped onto tokens with.

#include <cstdint>
#include <string>
#include <vector>

#include "atman/model/sequence.h"
#include "atman/model/tokenizer.h"

namespace atman {

/// The bytes [begin, end) of one position in its own text (sequence.prompt,
/// or sequence.target when in_target); begin = end = -1 for image positions
/// and control tokens (BOS). `content` is the first byte after the leading
/// whitespace that sentencepiece's word mark stands for (end when the token
/// is only whitespace).
struct TextRange {
  int64_t begin = -1;
  int64_t content = -1;
  int64_t end = -1;
  bool in_target = false;
};

/// One TextRange per sequence position, from the prompt's parts (before and
/// after {image}) and the target encoded with offsets as build_sequence
/// encoded them. Throws when the ids do not match the sequence's.
std::vector<TextRange> text_ranges(const Sequence& sequence, const Tokenizer& tokenizer);

/// Byte offset of every Unicode character of `text` and its end:
/// [0, ..., text.size()], chars + 1 entries (code points, as Python counts).
std::vector<int64_t> character_byte_offsets(const std::string& text);

}  // namespace atman
