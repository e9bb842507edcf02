#include "atman/generate/steering_spans.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "atman/core/options.h"
#include "atman/core/units.h"
#include "atman/io/error_text.h"
#include "atman/model/sequence.h"

namespace atman {
namespace {

// A byte that belongs to a word: ASCII letters and digits, and every byte of
// a multi-byte UTF-8 character.
bool word_byte(char ch) {
  const unsigned char c = static_cast<unsigned char>(ch);
  return c >= 0x80 || std::isalnum(c) != 0;
}

// Parses a positive decimal integer (no sign, at most 9 digits); nullopt otherwise.
std::optional<int64_t> parse_count(const std::string& text) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), digit)) return std::nullopt;
  return std::stoll(text);
}

std::vector<int64_t> image_rectangle(const SteeringPrompt& p, const std::string& span) {
  const std::string shown = quoted_text(span);
  const std::string body = span.substr(6);  // after "image:"
  std::vector<int64_t> v;
  size_t start = 0;
  while (true) {
    const size_t comma = body.find(',', start);
    const auto value = parse_count(body.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!value) {
      throw std::invalid_argument(
          fmt::format("span {}: expected image:r0,c0,r1,c1 (four integers >= 0, rows and columns of the patch grid)",
                      shown));
    }
    v.push_back(*value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (v.size() != 4) {
    throw std::invalid_argument(
        fmt::format("span {}: expected image:r0,c0,r1,c1 (four integers >= 0), got {} number(s)", shown, v.size()));
  }
  if (p.image_positions == 0) throw std::invalid_argument(fmt::format("span {}: there is no image", shown));
  const int64_t r0 = v[0], c0 = v[1], r1 = v[2], c1 = v[3];
  if (r0 > r1 || c0 > c1 || r1 >= p.grid_rows || c1 >= p.grid_cols) {
    throw std::invalid_argument(fmt::format(
        "span {}: needs 0 <= r0 <= r1 <= {} and 0 <= c0 <= c1 <= {} (the {}x{} patch grid, both ends inclusive)",
        shown, p.grid_rows - 1, p.grid_cols - 1, p.grid_rows, p.grid_cols));
  }
  std::vector<int64_t> out;
  for (int64_t r = r0; r <= r1; ++r) {
    for (int64_t c = c0; c <= c1; ++c) out.push_back(p.image_begin + r * p.grid_cols + c);
  }
  return out;
}

// Word or sentence groups of text token indices: explained_groups (docs/method.md,
// "Groups") on each text part (before and after the image) alone; control tokens
// (BOS) are left out.
std::vector<std::vector<int64_t>> text_units(const SteeringPrompt& p, const Tokenizer& tokenizer,
                                             Granularity granularity) {
  std::vector<std::vector<int64_t>> units;
  const int64_t n = static_cast<int64_t>(p.text_ids.size());
  const std::pair<int64_t, int64_t> parts[] = {{0, p.image_text_split}, {p.image_text_split, n}};
  for (const auto& [begin, end] : parts) {
    if (begin >= end) continue;
    Sequence part;  // a text-only sequence of this part; a one-token target adds no position
    part.prompt_ids.assign(p.text_ids.begin() + begin, p.text_ids.begin() + end);
    part.prompt_pieces.assign(p.pieces.begin() + begin, p.pieces.begin() + end);
    part.target_ids = {p.text_ids[begin]};
    part.target_pieces = {p.pieces[begin]};
    for (std::vector<int64_t> group : explained_groups(part, granularity, tokenizer)) {
      if (group.size() == 1 && tokenizer.is_special(part.prompt_ids[group[0]])) continue;
      for (int64_t& index : group) index += begin;
      units.push_back(std::move(group));
    }
  }
  return units;
}

std::vector<int64_t> indexed_unit(const SteeringPrompt& p, const Tokenizer& tokenizer, const std::string& span,
                                  const std::string& kind) {
  const auto k = parse_count(span.substr(kind.size() + 1));
  if (!k || *k < 1) {
    throw std::invalid_argument(fmt::format("span {}: expected {}:k with k >= 1 (1-based)", quoted_text(span), kind));
  }
  std::vector<std::vector<int64_t>> units;
  if (kind == "token") {
    for (int64_t i = 0; i < static_cast<int64_t>(p.text_ids.size()); ++i) {
      if (!tokenizer.is_special(p.text_ids[i])) units.push_back({i});
    }
  } else {
    units = text_units(p, tokenizer, kind == "word" ? Granularity::kWord : Granularity::kSentence);
  }
  if (*k > static_cast<int64_t>(units.size())) {
    throw std::invalid_argument(fmt::format("span {}: the prompt has {} {}(s)", quoted_text(span), units.size(), kind));
  }
  std::vector<int64_t> out;
  for (int64_t index : units[*k - 1]) out.push_back(p.text_position(index));
  return out;
}

std::vector<int64_t> text_occurrences(const SteeringPrompt& p, const std::string& span) {
  std::string text = span;
  std::optional<int64_t> which;
  const size_t at = span.rfind('@');
  if (at != std::string::npos && at > 0 && at + 1 < span.size()) {
    if (const auto k = parse_count(span.substr(at + 1))) {
      if (*k < 1) throw std::invalid_argument(fmt::format("span {}: @k counts from 1", quoted_text(span)));
      text = span.substr(0, at);
      which = *k;
    }
  }
  // Whole-word occurrences in the prompt, left to right, not overlapping.
  const std::string& prompt = p.prompt;
  std::vector<std::pair<int64_t, int64_t>> found;
  for (size_t pos = prompt.find(text); pos != std::string::npos; pos = prompt.find(text, pos + 1)) {
    const size_t end = pos + text.size();
    if (word_byte(text.front()) && pos > 0 && word_byte(prompt[pos - 1])) continue;
    if (word_byte(text.back()) && end < prompt.size() && word_byte(prompt[end])) continue;
    if (!found.empty() && static_cast<int64_t>(pos) < found.back().second) continue;
    found.emplace_back(static_cast<int64_t>(pos), static_cast<int64_t>(end));
  }
  // Tokens whose byte range overlaps an occurrence (sentencepiece's "▁" covers
  // the space before a word, so " Tom" and "Tom" give the same token).
  // A word mark standing alone ("▁" before a word split into pieces) covers
  // the spaces before the word, or nothing at the prompt's start: it belongs
  // to the word, so the occurrence reaches back over the spaces before it.
  std::vector<std::vector<int64_t>> occurrences;
  for (auto [begin, end] : found) {
    while (begin > 0 && prompt[begin - 1] == ' ') --begin;
    std::vector<int64_t> positions;
    for (size_t n = 0; n < p.text_ids.size(); ++n) {
      const bool empty_at_begin = p.text_begin[n] == p.text_end[n] && p.text_begin[n] == begin;
      if (p.text_begin[n] >= 0 && ((p.text_begin[n] < end && p.text_end[n] > begin) || empty_at_begin)) {
        positions.push_back(p.text_position(static_cast<int64_t>(n)));
      }
    }
    if (!positions.empty()) occurrences.push_back(std::move(positions));
  }
  if (occurrences.empty()) {
    throw std::invalid_argument(fmt::format(
        "span {}: not found in the prompt as whole words (spans: text, text@k, image, image:r0,c0,r1,c1, "
        "token:k, word:k, sentence:k)",
        quoted_text(text)));
  }
  if (which && *which > static_cast<int64_t>(occurrences.size())) {
    throw std::invalid_argument(fmt::format("span {}: the prompt has {} occurrence(s) of {}", quoted_text(span),
                                            occurrences.size(), quoted_text(text)));
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < occurrences.size(); ++i) {
    if (!which || static_cast<int64_t>(i) + 1 == *which) out.insert(out.end(), occurrences[i].begin(), occurrences[i].end());
  }
  return out;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

const char* control_kind_name(ControlKind kind) { return kind == ControlKind::kSuppress ? "suppress" : "amplify"; }

SteeringPrompt build_steering_prompt(const Model& model, const std::string& prompt, int64_t image_positions) {
  check_input_text(prompt, "prompt");
  const ModelConfig& config = model.config();
  const Tokenizer& tokenizer = model.tokenizer();
  SteeringPrompt p;
  p.prompt = prompt;
  p.image_positions = image_positions;
  if (image_positions > 0 && config.image) {
    p.grid_rows = config.image->grid_rows;
    p.grid_cols = config.image->grid_cols;
  }
  // The ids and the image's place as every command lays them out
  // (prompt_ids, docs/contract.md): [bos] + text before {image} + the image +
  // text after it; without {image} the image comes first.
  const PromptIds layout = prompt_ids(config, tokenizer, prompt);
  p.text_ids = layout.ids;
  p.image_text_split = image_positions > 0 ? layout.image_index : 0;
  p.image_begin = p.image_text_split;
  // Byte ranges of the text tokens, from the same parts encoded with offsets.
  if (config.add_bos) {
    p.text_begin.push_back(-1);
    p.text_end.push_back(-1);
  }
  auto add_part = [&](size_t offset, const std::string& text) {
    if (text.empty()) return;
    for (const TokenSpan& t : tokenizer.encode_with_offsets(text)) {
      p.text_begin.push_back(static_cast<int64_t>(offset) + t.begin);
      p.text_end.push_back(static_cast<int64_t>(offset) + t.end);
    }
  };
  if (layout.marker == std::string::npos) {
    add_part(0, prompt);
  } else {
    add_part(0, prompt.substr(0, layout.marker));
    const size_t after = layout.marker + sizeof(kImageMarker) - 1;
    add_part(after, prompt.substr(after));
  }
  TORCH_CHECK(p.text_begin.size() == p.text_ids.size(), "build_steering_prompt: ", p.text_begin.size(),
              " token offsets for ", p.text_ids.size(), " ids");
  p.pieces = tokenizer.pieces(p.text_ids);
  if (p.length() == 0) throw std::invalid_argument("prompt gives no tokens");
  if (p.length() > config.max_positions) {
    throw std::invalid_argument(fmt::format("the prompt needs {} positions ({} image + {} text) but the model allows {}",
                                            p.length(), image_positions, p.text_ids.size(), config.max_positions));
  }
  return p;
}

std::vector<int64_t> resolve_span(const SteeringPrompt& p, const Tokenizer& tokenizer, const std::string& span) {
  if (span.empty()) throw std::invalid_argument("span is empty");
  std::vector<int64_t> positions;
  if (span == "image") {
    if (p.image_positions == 0) throw std::invalid_argument("span \"image\": there is no image");
    for (int64_t i = 0; i < p.image_positions; ++i) positions.push_back(p.image_begin + i);
  } else if (starts_with(span, "image:")) {
    positions = image_rectangle(p, span);
  } else if (starts_with(span, "token:")) {
    positions = indexed_unit(p, tokenizer, span, "token");
  } else if (starts_with(span, "word:")) {
    positions = indexed_unit(p, tokenizer, span, "word");
  } else if (starts_with(span, "sentence:")) {
    positions = indexed_unit(p, tokenizer, span, "sentence");
  } else {
    positions = text_occurrences(p, span);
  }
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  return positions;
}

}  // namespace atman
