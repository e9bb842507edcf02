#include "atman/core/units.h"

#include <string>
#include <utility>

namespace atman {
namespace {

const char kWordStart[] = "\xe2\x96\x81";  // U+2581, sentencepiece's space marker

bool ends_sentence(const std::string& piece) {
  return !piece.empty() && (piece.back() == '.' || piece.back() == '?' || piece.back() == '!');
}

}  // namespace

std::vector<std::vector<int64_t>> explained_groups(const Sequence& sequence, Granularity granularity,
                                                   const Tokenizer& tokenizer) {
  std::vector<std::vector<int64_t>> groups;
  // In sequence order: the prompt's text before the image, the image's
  // patches, the prompt's text after it, the target but its last token.
  const std::pair<int64_t, int64_t> segments[] = {{0, sequence.image_begin},
                                                  {sequence.image_end(), sequence.target_begin()},
                                                  {sequence.target_begin(), sequence.length()}};
  for (int segment = 0; segment < 3; ++segment) {
    const auto [begin, end] = segments[segment];
    if (segment == 1) {
      for (int64_t i = sequence.image_begin; i < sequence.image_end(); ++i) groups.push_back({i});
    }
    bool open = false;      // is groups.back() a group we may extend?
    bool prev_ends = true;  // previous piece ended a sentence / was special
    for (int64_t p = begin; p < end; ++p) {
      const bool special = tokenizer.is_special(sequence.token_id_at(p));
      const std::string& piece = sequence.piece_at(p);
      bool starts_new = true;
      if (open && !special) {
        switch (granularity) {
          case Granularity::kToken: starts_new = true; break;
          case Granularity::kWord: starts_new = piece.rfind(kWordStart, 0) == 0; break;
          case Granularity::kSentence: starts_new = prev_ends; break;
        }
      }
      if (starts_new) {
        groups.push_back({p});
      } else {
        groups.back().push_back(p);
      }
      open = !special;
      prev_ends = ends_sentence(piece);
    }
  }
  return groups;
}

}  // namespace atman
