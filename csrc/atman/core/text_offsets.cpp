#include "atman/core/text_offsets.h"

#include <utf8.h>

#include <cctype>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "atman/model/model.h"

namespace atman {
namespace {

// Encodes `text` (at `offset` bytes in its whole text) and writes the ranges
// of its tokens, which stand at positions first, first + 1, ... of the sequence.
void fill_part(const Sequence& s, const Tokenizer& tokenizer, const std::string& whole, size_t offset,
               size_t length, int64_t first, bool in_target, std::vector<TextRange>& out) {
  if (length == 0) return;
  const std::vector<TokenSpan> tokens = tokenizer.encode_with_offsets(whole.substr(offset, length));
  for (size_t k = 0; k < tokens.size(); ++k) {
    const int64_t p = first + static_cast<int64_t>(k);
    if (p >= s.length()) break;  // the target's last token is not a position
    TORCH_CHECK(p >= 0 && s.token_id_at(p) == tokens[k].id, "text_ranges: token ", k,
                " of the text differs from the sequence's at position ", p);
    if (tokenizer.is_special(tokens[k].id)) continue;
    TextRange r;
    r.begin = static_cast<int64_t>(offset) + tokens[k].begin;
    r.end = static_cast<int64_t>(offset) + tokens[k].end;
    r.content = r.begin;
    while (r.content < r.end && std::isspace(static_cast<unsigned char>(whole[r.content]))) ++r.content;
    r.in_target = in_target;
    out[p] = r;
  }
}

}  // namespace

std::vector<TextRange> text_ranges(const Sequence& s, const Tokenizer& tokenizer) {
  std::vector<TextRange> out(static_cast<size_t>(s.length()));
  // The prompt's own ids sit at the end of prompt_ids (after BOS), in parts
  // split at {image} when the prompt holds the marker (docs/contract.md).
  const std::string& prompt = s.prompt;
  size_t cut = prompt.size(), resume = prompt.size();
  if (s.image_marker != std::string::npos) {
    cut = s.image_marker;
    resume = s.image_marker + std::string(kImageMarker).size();
  }
  const int64_t before = cut == 0 ? 0 : static_cast<int64_t>(tokenizer.encode(prompt.substr(0, cut)).size());
  const int64_t after =
      resume >= prompt.size() ? 0 : static_cast<int64_t>(tokenizer.encode(prompt.substr(resume)).size());
  const int64_t first = static_cast<int64_t>(s.prompt_ids.size()) - before - after;
  TORCH_CHECK(first >= 0, "text_ranges: the sequence has fewer prompt ids than the prompt's tokens");
  fill_part(s, tokenizer, prompt, 0, cut, s.prompt_position(first), false, out);
  fill_part(s, tokenizer, prompt, resume, prompt.size() - resume, s.prompt_position(first + before), false, out);
  fill_part(s, tokenizer, s.target, 0, s.target.size(), s.target_begin(), true, out);
  return out;
}

std::vector<int64_t> character_byte_offsets(const std::string& text) {
  std::vector<int64_t> out{0};
  for (auto it = text.begin(); it != text.end();) {
    utf8::next(it, text.end());
    out.push_back(it - text.begin());
  }
  return out;
}

}  // namespace atman
