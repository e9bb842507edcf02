#include "atman/core/units.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "atman/core/custom_groups.h"
#include "atman/core/image_tiles.h"
#include "atman/core/text_offsets.h"

namespace atman {
namespace {

const char kWordStart[] = "\xe2\x96\x81";  // U+2581, sentencepiece's space marker

bool ends_with_space(const std::string& piece) {
  return !piece.empty() && std::isspace(static_cast<unsigned char>(piece.back()));
}

bool only_space(const std::string& piece) {
  return std::all_of(piece.begin(), piece.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

bool ends_sentence(const std::string& piece) {
  return !piece.empty() && (piece.back() == '.' || piece.back() == '?' || piece.back() == '!');
}

// Byte offsets just after each unit end in `text`: after every occurrence of
// `delimiter` (non-overlapping, left to right), or with an empty delimiter
// after every whitespace run holding two line breaks (a paragraph's end).
std::vector<int64_t> unit_ends(const std::string& text, const std::string& delimiter) {
  std::vector<int64_t> ends;
  if (!delimiter.empty()) {
    for (size_t at = text.find(delimiter); at != std::string::npos; at = text.find(delimiter, at + delimiter.size())) {
      ends.push_back(static_cast<int64_t>(at + delimiter.size()));
    }
    return ends;
  }
  for (size_t i = 0; i < text.size();) {
    size_t j = i, breaks = 0;
    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) breaks += text[j++] == '\n';
    if (breaks >= 2) ends.push_back(static_cast<int64_t>(j));
    i = j > i ? j : i + 1;
  }
  return ends;
}

// For every position: does a paragraph or delimited unit end before it? True
// when an end lies after the previous token's characters start and at or
// before this token's (leading whitespace aside), in the same text.
std::vector<char> text_breaks(const Sequence& sequence, const Tokenizer& tokenizer, const std::string& delimiter) {
  const std::vector<TextRange> ranges = text_ranges(sequence, tokenizer);
  const std::vector<int64_t> ends[2] = {unit_ends(sequence.prompt, delimiter), unit_ends(sequence.target, delimiter)};
  std::vector<char> breaks(ranges.size(), 0);
  const TextRange* previous = nullptr;
  for (size_t p = 0; p < ranges.size(); ++p) {
    const TextRange& r = ranges[p];
    if (r.begin < 0) continue;
    if (previous != nullptr && previous->in_target == r.in_target) {
      for (int64_t e : ends[r.in_target ? 1 : 0]) breaks[p] |= e > previous->content && e <= r.content;
    }
    previous = &r;
  }
  return breaks;
}

// A word starts at a piece beginning with the word mark, or after a piece
// ending in whitespace (byte-level BPE keeps a newline in its own piece, and
// the word after it has no mark); whitespace-only pieces end the word before.
bool starts_unit(Granularity granularity, const std::string& piece, bool previous_ends_sentence,
                 bool previous_ends_space, char text_break) {
  switch (granularity) {
    case Granularity::kToken: return true;
    case Granularity::kWord: return piece.rfind(kWordStart, 0) == 0 || (previous_ends_space && !only_space(piece));
    case Granularity::kSentence: return previous_ends_sentence;
    case Granularity::kParagraph:
    case Granularity::kDelimiter: return text_break != 0;
    case Granularity::kAuto: break;
  }
  return true;
}

}  // namespace

std::vector<std::vector<int64_t>> explained_groups(const Sequence& sequence, Granularity granularity,
                                                   const Tokenizer& tokenizer, const std::string& delimiter) {
  if (granularity == Granularity::kAuto) {
    throw std::invalid_argument("explained_groups: granularity auto must be resolved first (choose_granularity)");
  }
  if (granularity == Granularity::kDelimiter && delimiter.empty()) {
    throw std::invalid_argument("granularity delimiter needs a non-empty delimiter (--delimiter)");
  }
  std::vector<char> breaks;
  if (granularity == Granularity::kParagraph || granularity == Granularity::kDelimiter) {
    breaks = text_breaks(sequence, tokenizer, granularity == Granularity::kDelimiter ? delimiter : "");
  }
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
    bool prev_space = false;  // previous piece ended in whitespace
    for (int64_t p = begin; p < end; ++p) {
      const bool special = tokenizer.is_special(sequence.token_id_at(p));
      const std::string& piece = sequence.piece_at(p);
      const bool starts_new =
          !open || special || starts_unit(granularity, piece, prev_ends, prev_space, breaks.empty() ? 0 : breaks[p]);
      if (starts_new) {
        groups.push_back({p});
      } else {
        groups.back().push_back(p);
      }
      open = !special;
      prev_ends = ends_sentence(piece);
      prev_space = ends_with_space(piece);
    }
  }
  return groups;
}

Granularity choose_granularity(const Sequence& sequence, const Tokenizer& tokenizer, int64_t target_units) {
  for (Granularity g : {Granularity::kSentence, Granularity::kWord}) {
    int64_t units = 0;
    for (const auto& group : explained_groups(sequence, g, tokenizer)) {
      const int64_t first = group.front();
      units += sequence.kind_of(first) != PositionKind::kImage && !tokenizer.is_special(sequence.token_id_at(first));
    }
    if (units >= target_units) return g;
  }
  return Granularity::kToken;
}

ExplainedUnits explained_units(const Sequence& sequence, const ExplainOptions& options, const Tokenizer& tokenizer,
                               int image_width, int image_height, const std::optional<ImageConfig>& image_config) {
  if (!options.groups.empty()) {
    return custom_units(sequence, options.groups, options.token_overlap, tokenizer, image_width, image_height,
                        image_config);
  }
  if (options.target_units < 1) {
    throw std::invalid_argument(fmt::format("target units must be >= 1, got {}", options.target_units));
  }
  ExplainedUnits units;
  Granularity granularity = options.granularity;
  if (granularity == Granularity::kAuto) {
    granularity = choose_granularity(sequence, tokenizer, options.target_units);
    units.chosen_granularity = granularity;
  }
  units.groups = explained_groups(sequence, granularity, tokenizer, options.delimiter);
  units.labels.resize(units.groups.size());
  const int64_t tiles = options.image_search == ImageSearch::kCoarseToFine && options.image_granularity == 0
                            ? kDefaultCoarseTiles
                            : options.image_granularity;
  if (tiles > 0) group_patches_into_tiles(sequence, tiles, units);
  return units;
}

}  // namespace atman
