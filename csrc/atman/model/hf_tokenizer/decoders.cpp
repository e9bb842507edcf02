#include "atman/model/hf_tokenizer/decoders.h"

#include <cctype>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/byte_level.h"
#include "atman/model/hf_tokenizer/component_type.h"
#include "atman/model/hf_tokenizer/normalized_text.h"
#include "atman/model/hf_tokenizer/pattern.h"

namespace atman::hf {
namespace {

using nlohmann::json;

const char* const kReplacementChar = "\xef\xbf\xbd";  // U+FFFD

// Invalid UTF-8 sequences become U+FFFD, as Rust's String::from_utf8_lossy.
std::string utf8_lossy(const std::string& bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out += kReplacementChar;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k <= need && i + k < bytes.size(); ++k) {
      const auto d = static_cast<unsigned char>(bytes[i + k]);
      const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (d < l || d > h) break;
    }
    if (k == need + 1) {
      out.append(bytes, i, need + 1);
      i += need + 1;
    } else {
      out += kReplacementChar;  // the maximal invalid prefix becomes one U+FFFD
      i += k;
    }
  }
  return out;
}

class ByteLevel final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      std::string raw;
      if (byte_level_to_bytes(token, &raw)) {
        bytes += raw;
      } else {
        bytes += token;
      }
    }
    return {utf8_lossy(bytes)};
  }
};

class Replace final : public Decoder {
 public:
  explicit Replace(const json& config)
      : pattern_(config.at("pattern"), "decoder Replace"), content_(config.at("content").get<std::string>()) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      const auto matches = pattern_.find_all(token);
      if (matches.empty()) continue;
      std::string out;
      size_t at = 0;
      for (const auto& [b, e] : matches) {
        out.append(token, at, b - at);
        out += content_;
        at = e;
      }
      out.append(token, at, std::string::npos);
      token = std::move(out);
    }
    return tokens;
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// Runs of "<0xNN>" tokens become the text of their bytes (or one U+FFFD per
// byte when they are not valid UTF-8).
class ByteFallback final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (utf8_lossy(pending) == pending) {
        out.push_back(pending);
      } else {
        std::string replacement;
        for (size_t k = 0; k < pending_count; ++k) replacement += kReplacementChar;
        out.push_back(replacement);
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& token : tokens) {
      int byte = -1;
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>') {
        const std::string hex = token.substr(3, 2);
        if (std::isxdigit(static_cast<unsigned char>(hex[0])) && std::isxdigit(static_cast<unsigned char>(hex[1]))) {
          byte = std::stoi(hex, nullptr, 16);
        }
      }
      if (byte >= 0) {
        pending += static_cast<char>(byte);
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    return out;
  }
};

class Fuse final : public Decoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    std::string joined;
    for (const std::string& t : tokens) joined += t;
    return {joined};
  }
};

// Removes up to `start` leading and `stop` trailing copies of `content` (one character).
class Strip final : public Decoder {
 public:
  explicit Strip(const json& config)
      : content_(config.at("content").get<std::string>()),
        start_(config.value("start", 0)),
        stop_(config.value("stop", 0)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    if (content_.empty()) return tokens;
    for (std::string& token : tokens) {
      size_t begin = 0;
      for (int k = 0; k < start_ && token.compare(begin, content_.size(), content_) == 0; ++k) begin += content_.size();
      size_t end = token.size();
      for (int k = 0; k < stop_ && end >= begin + content_.size() &&
                      token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++k) {
        end -= content_.size();
      }
      token = token.substr(begin, end - begin);
    }
    return tokens;
  }

 private:
  std::string content_;
  int start_;
  int stop_;
};

// The replacement character becomes a space; the first token loses a leading one
// (prepend_scheme always/first).
class Metaspace final : public Decoder {
 public:
  explicit Metaspace(const json& config)
      : replacement_(config.value("replacement", std::string("\xe2\x96\x81"))),
        strip_first_(config.value("prepend_scheme", std::string(config.value("add_prefix_space", true) ? "always"
                                                                                                         : "never")) !=
                     "never") {}
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t at = 0; at < t.size();) {
        if (t.compare(at, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && at == 0 && strip_first_)) out += ' ';
          at += replacement_.size();
        } else {
          out += t[at++];
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(const json& config) {
    for (const json& item : config.at("decoders")) {
      if (auto d = make_decoder(item)) parts_.push_back(std::move(d));
    }
  }
  std::vector<std::string> decode_chain(std::vector<std::string> tokens) const override {
    for (const auto& part : parts_) tokens = part->decode_chain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config);
  try {
    if (type == "ByteLevel") return std::make_unique<ByteLevel>();
    if (type == "Replace") return std::make_unique<Replace>(config);
    if (type == "ByteFallback") return std::make_unique<ByteFallback>();
    if (type == "Fuse") return std::make_unique<Fuse>();
    if (type == "Strip") return std::make_unique<Strip>(config);
    if (type == "Metaspace") return std::make_unique<Metaspace>(config);
    if (type == "Sequence") return std::make_unique<Sequence>(config);
  } catch (const json::exception& e) {
    throw malformed_component("decoder", type, e);
  }
  throw unsupported_component("decoder", config, "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence");
}

std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens) {
  std::string out;
  if (decoder == nullptr) {
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  for (const std::string& t : decoder->decode_chain(std::move(tokens))) out += t;
  return out;
}

}  // namespace atman::hf
