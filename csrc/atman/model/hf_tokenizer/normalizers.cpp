#include "atman/model/hf_tokenizer/normalizers.h"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "atman/model/hf_tokenizer/component_type.h"
#include "atman/model/hf_tokenizer/pattern.h"

namespace atman::hf {
namespace {

using nlohmann::json;

std::string nfc_bytes(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                   &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw std::runtime_error(std::string("NFC failed: ") + utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

// A character before which NFC never changes anything across: a starter that
// is not the second half of a canonical composition (nor a Hangul vowel or
// trailing consonant, which compose algorithmically).
bool is_safe_boundary(char32_t cp) {
  if (cp < 0x80) return true;
  if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2)) return false;
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  if (p->combining_class != 0) return false;
  return p->comb_index == UINT16_MAX || (p->comb_index & 0x8000) == 0;
}

// NFC, chunk by chunk between safe boundaries; a chunk that changes maps all
// its new bytes to the chunk's original range.
class Nfc final : public Normalizer {
 public:
  void normalize(NormalizedText& t) const override {
    bool ascii = true;
    for (char c : t.text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) return;
    NormalizedText out;
    out.text.reserve(t.text.size());
    out.align.reserve(t.align.size());
    size_t chunk = 0;
    auto flush = [&](size_t end) {
      if (end == chunk) return;
      const std::string_view piece(t.text.data() + chunk, end - chunk);
      bool plain = true;
      for (char c : piece) plain = plain && static_cast<unsigned char>(c) < 0x80;
      const std::string composed = plain ? std::string(piece) : nfc_bytes(piece);
      if (composed == piece) {
        out.append(t.slice(chunk, end));
      } else {
        out.append(composed, t.original_span(chunk, end));
      }
      chunk = end;
    };
    for (size_t i = 0; i < t.text.size();) {
      size_t n = 0;
      const char32_t cp = decode_utf8(t.text, i, &n);
      if (i > chunk && is_safe_boundary(cp)) flush(i);
      i += n;
    }
    flush(t.text.size());
    t = std::move(out);
  }
};

class Replace final : public Normalizer {
 public:
  explicit Replace(const json& config)
      : pattern_(config.at("pattern"), "normalizer Replace"), content_(config.at("content").get<std::string>()) {}
  void normalize(NormalizedText& t) const override {
    const auto matches = pattern_.find_all(t.text);
    if (matches.empty()) return;
    NormalizedText out;
    size_t at = 0;
    for (const auto& [b, e] : matches) {
      if (b > at) out.append(t.slice(at, b));
      if (e > b) out.append(content_, t.original_span(b, e));
      at = e;
    }
    if (at < t.text.size()) out.append(t.slice(at, t.text.size()));
    t = std::move(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(const json& config) : prepend_(config.at("prepend").get<std::string>()) {}
  void normalize(NormalizedText& t) const override {
    if (t.empty()) return;
    size_t n = 0;
    decode_utf8(t.text, 0, &n);
    NormalizedText out;
    out.append(prepend_, t.original_span(0, n));
    out.append(t);
    t = std::move(out);
  }

 private:
  std::string prepend_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(const json& config) {
    for (const json& item : config.at("normalizers")) {
      if (auto n = make_normalizer(item)) parts_.push_back(std::move(n));
    }
  }
  void normalize(NormalizedText& t) const override {
    for (const auto& part : parts_) part->normalize(t);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::string nfc(const std::string& text) { return nfc_bytes(text); }

std::unique_ptr<Normalizer> make_normalizer(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config);
  try {
    if (type == "NFC") return std::make_unique<Nfc>();
    if (type == "Replace") return std::make_unique<Replace>(config);
    if (type == "Prepend") return std::make_unique<Prepend>(config);
    if (type == "Sequence") return std::make_unique<Sequence>(config);
  } catch (const json::exception& e) {
    throw malformed_component("normalizer", type, e);
  }
  throw unsupported_component("normalizer", config, "NFC, Replace, Prepend, Sequence");
}

}  // namespace atman::hf
