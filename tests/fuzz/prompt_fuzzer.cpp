// libFuzzer target: the prompt/tokenizer path with the project's
// sentencepiece model embedded in the binary: Tokenizer::encode,
// encode_with_offsets, pieces and decode; prompt_from_question;
// build_sequence (length limit with an image prefix) and explained_groups
// for every granularity.
//
// Input: byte 0 picks the image prefix (0..127 positions) and add_bos,
// byte 1 max_positions (2..257); the rest is "prompt\0target" (the prompt
// also serves as a question).
//
// Properties checked: invalid input is refused with std::invalid_argument
// (one line); a built sequence respects max_positions, its layout and ids;
// the groups cover every explained position exactly once, in order, never
// crossing the prompt/target boundary; offsets are ordered and in range.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "atman/core/units.h"
#include "atman/model/sequence.h"
#include "atman/model/tokenizer.h"

// The sentencepiece model, embedded at build time (ATMAN_FUZZ_TOKENIZER is its path).
__asm__(".section .rodata\n"
        ".global atman_fuzz_tokenizer_begin\n"
        "atman_fuzz_tokenizer_begin:\n"
        ".incbin \"" ATMAN_FUZZ_TOKENIZER "\"\n"
        ".global atman_fuzz_tokenizer_end\n"
        "atman_fuzz_tokenizer_end:\n"
        ".previous\n");
extern "C" const char atman_fuzz_tokenizer_begin[];
extern "C" const char atman_fuzz_tokenizer_end[];

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void check_message(const std::exception& e) {
  require(std::string(e.what()).find('\n') == std::string::npos, "message is one line");
}

const atman::Tokenizer& tokenizer() {
  static const atman::Tokenizer tok = atman::Tokenizer::from_serialized(
      std::string(atman_fuzz_tokenizer_begin, atman_fuzz_tokenizer_end - atman_fuzz_tokenizer_begin), "fuzz.model");
  return tok;
}

void check_encoding(const atman::Tokenizer& tok, const std::string& text) {
  std::vector<int64_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const std::invalid_argument& e) {
    check_message(e);
    require(!atman::is_valid_utf8(text), "only invalid UTF-8 is refused");
    return;
  }
  const auto spans = tok.encode_with_offsets(text);
  require(spans.size() == ids.size(), "offsets: same number of tokens");
  int64_t last_end = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    require(spans[i].id == ids[i], "offsets: same ids");
    require(spans[i].begin >= 0 && spans[i].begin <= spans[i].end &&
                spans[i].end <= static_cast<int64_t>(text.size()), "offsets in range");
    require(spans[i].begin >= last_end || spans[i].begin == spans[i].end, "offsets ordered");
    last_end = std::max(last_end, spans[i].end);
  }
  for (int64_t id : ids) require(id >= 0 && id < tok.vocab_size(), "id in vocabulary");
  require(tok.pieces(ids).size() == ids.size(), "pieces");
  require(atman::is_valid_utf8(tok.decode(ids)), "decode gives UTF-8");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const atman::Tokenizer& tok = tokenizer();
  const int64_t image_positions = data[0] & 0x7f;
  atman::ModelConfig config;
  config.name = "fuzz";
  config.vocab_size = tok.vocab_size();
  config.hidden_size = 8;
  config.num_layers = 1;
  config.num_heads = 1;
  config.max_positions = 2 + data[1];
  config.add_bos = (data[0] & 0x80) != 0;
  config.bos_id = 1;
  config.prompt_template = "Question: {question} Answer:";
  if (image_positions > 0) {  // an image model: "{image}" in the prompt places the image (docs/contract.md)
    atman::ImageConfig image;
    image.height = image.width = 128;
    image.grid_rows = 1;
    image.grid_cols = image_positions;
    config.image = image;
  }
  const std::string rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const size_t split = rest.find('\0');
  const std::string prompt = rest.substr(0, split);
  const std::string target = split == std::string::npos ? std::string(" x") : rest.substr(split + 1);

  check_encoding(tok, prompt);
  check_encoding(tok, target);
  try {
    const std::string filled = atman::prompt_from_question(config, prompt);
    require(filled.find(prompt) != std::string::npos, "question filled in");
  } catch (const std::invalid_argument& e) {
    check_message(e);
  }

  atman::Sequence seq;
  try {
    seq = atman::build_sequence(config, tok, prompt, target, image_positions);
  } catch (const std::invalid_argument& e) {
    check_message(e);
    return 0;
  }
  const int64_t s = seq.length();
  require(s >= 1 && s <= config.max_positions, "length within max_positions");
  require(s == image_positions + static_cast<int64_t>(seq.prompt_ids.size() + seq.target_ids.size()) - 1, "layout");
  require((!seq.prompt_ids.empty() || image_positions > 0) && !seq.target_ids.empty(), "non-empty");
  require(seq.image_begin >= 0 && seq.image_end() <= seq.target_begin(), "image inside the prompt");
  require(!config.add_bos || seq.prompt_ids.front() == config.bos_id, "BOS first");
  require(seq.prompt_pieces.size() == seq.prompt_ids.size() && seq.target_pieces.size() == seq.target_ids.size(),
          "pieces");
  require(static_cast<int64_t>(seq.text_ids().size()) == s - image_positions, "text ids");
  for (int64_t p = 0; p < s; ++p) {
    const auto kind = seq.kind_of(p);
    require((p >= seq.image_begin && p < seq.image_end()) == (kind == atman::PositionKind::kImage), "kind");
    require((kind == atman::PositionKind::kImage) == (seq.token_id_at(p) < 0), "token id");
  }
  for (auto g : {atman::Granularity::kToken, atman::Granularity::kWord, atman::Granularity::kSentence}) {
    const auto groups = atman::explained_groups(seq, g, tok);
    int64_t next = 0;
    for (const auto& group : groups) {
      require(!group.empty(), "group not empty");
      for (int64_t p : group) require(p == next++, "groups cover positions in order, once");
      const bool in_target = group.front() >= seq.target_begin();
      require(in_target == (group.back() >= seq.target_begin()), "group inside prompt or target");
      const bool image = seq.kind_of(group.front()) == atman::PositionKind::kImage;
      if (image) require(group.size() == 1, "patches alone");
      require(group.front() >= seq.image_end() || group.back() < seq.image_begin || image, "no group crosses the image");
    }
    require(next == s, "every position explained");
  }
  return 0;
}
