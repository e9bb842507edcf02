#pragma once
// tokenizer.json decoders: ByteLevel, Replace, ByteFallback, Fuse, Strip,
// Metaspace, Sequence (null: the tokens joined with spaces).

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace atman::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  /// One step of the chain: token strings in, token strings out.
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
};

/// The decoder of `config` ("decoder"); nullptr for null. Throws
/// std::invalid_argument naming an unsupported type.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& config);

/// The text of `tokens` through `decoder` (nullptr: joined with spaces).
std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens);

}  // namespace atman::hf
