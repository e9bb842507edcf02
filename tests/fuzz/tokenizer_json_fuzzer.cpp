// libFuzzer target: the tokenizer.json backend (csrc/atman/model/hf_tokenizer/).
//
// Input: byte 0 picks the mode.
//  - even: the rest is a tokenizer.json text: loading it either succeeds or
//    throws std::runtime_error (one line naming the file); a loaded tokenizer
//    then encodes and decodes a fixed text.
//  - odd: the rest is a text for a fixed tokenizer built here (NFC, a
//    Llama-3-style Split, ByteLevel, BPE with ignore_merges, added tokens with
//    lstrip/rstrip/single_word): invalid UTF-8 is refused with
//    std::invalid_argument; otherwise ids are in range, encode_with_offsets
//    gives the same ids with ordered spans inside the text, and decode,
//    piece and vocab_piece work on them.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/byte_level.h"
#include "atman/model/tokenizer.h"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

const atman::Tokenizer& fixed_tokenizer() {
  static const atman::Tokenizer tok = [] {
    using nlohmann::json;
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[atman::hf::byte_to_char(static_cast<uint8_t>(b))] = b;
    const std::string g = atman::hf::byte_to_char(' ');
    vocab[g + "r"] = 256;
    vocab[g + "re"] = 257;
    vocab[g + "red"] = 258;
    vocab["ab"] = 259;
    const json config = {
        {"added_tokens",
         json::array({{{"id", 260}, {"content", "<|eot|>"}, {"special", true}},
                      {{"id", 261}, {"content", "<x>"}, {"lstrip", true}, {"rstrip", true}},
                      {{"id", 262}, {"content", "ab"}, {"single_word", true}, {"normalized", true}}})},
        {"normalizer", {{"type", "NFC"}}},
        {"pre_tokenizer",
         {{"type", "Sequence"},
          {"pretokenizers",
           json::array({{{"type", "Split"},
                         {"pattern",
                          {{"Regex",
                            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                            "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                         {"behavior", "Isolated"}},
                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model",
         {{"type", "BPE"},
          {"ignore_merges", true},
          {"vocab", vocab},
          {"merges", json::array({g + " r", g + "r e", g + "re d", "a b"})}}}};
    return atman::Tokenizer::from_hf_json(config.dump(), "fuzz.pt");
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    atman::Tokenizer tok;
    try {
      tok = atman::Tokenizer::from_hf_json(rest, "fuzz.pt");
    } catch (const std::runtime_error& e) {
      require(std::string(e.what()).rfind("fuzz.pt: atman/tokenizer.json", 0) == 0, "load errors name the file");
      return 0;
    }
    const auto ids = tok.encode("Hello <|im_start|> w\xc3\xb6rld 123\n");
    for (int64_t id : ids) require(id >= 0 && id < tok.vocab_size(), "ids in range");
    tok.decode(ids);
    return 0;
  }
  const atman::Tokenizer& tok = fixed_tokenizer();
  std::vector<int64_t> ids;
  try {
    ids = tok.encode(rest);
  } catch (const std::invalid_argument&) {
    require(!atman::is_valid_utf8(rest), "only invalid UTF-8 is refused");
    return 0;
  }
  const auto spans = tok.encode_with_offsets(rest);
  require(spans.size() == ids.size(), "offsets give the same number of tokens");
  int64_t previous = 0;
  for (size_t k = 0; k < spans.size(); ++k) {
    require(spans[k].id == ids[k], "offsets give the same ids");
    require(spans[k].id >= 0 && spans[k].id < tok.vocab_size(), "ids in range");
    require(0 <= spans[k].begin && spans[k].begin <= spans[k].end &&
                spans[k].end <= static_cast<int64_t>(rest.size()),
            "spans inside the text");
    require(spans[k].begin >= previous, "spans in order");
    previous = spans[k].begin;
    tok.piece(ids[k]);
    tok.vocab_piece(ids[k]);
  }
  require(atman::is_valid_utf8(tok.decode(ids)), "decode gives UTF-8");
  return 0;
}
