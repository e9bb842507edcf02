#include "atman/io/image_header.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace atman {
namespace {

// Every read is bounds-checked: a header parser must be safe on any bytes.
class Bytes {
 public:
  explicit Bytes(const std::string& data) : data_(data) {}
  size_t size() const { return data_.size(); }
  bool has(size_t offset, size_t n) const { return offset <= data_.size() && n <= data_.size() - offset; }
  bool starts_with(size_t offset, std::string_view magic) const {
    return has(offset, magic.size()) && std::memcmp(data_.data() + offset, magic.data(), magic.size()) == 0;
  }
  uint8_t u8(size_t offset) const { return has(offset, 1) ? static_cast<uint8_t>(data_[offset]) : 0; }
  uint64_t be(size_t offset, int n) const {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | u8(offset + i);
    return v;
  }
  uint64_t le(size_t offset, int n) const {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | u8(offset + i);
    return v;
  }
  uint64_t read(size_t offset, int n, bool little) const { return little ? le(offset, n) : be(offset, n); }
  char at(size_t offset) const { return has(offset, 1) ? data_[offset] : '\0'; }

 private:
  const std::string& data_;
};

[[noreturn]] void damaged(const std::string& origin, const char* format, const std::string& why) {
  throw std::runtime_error(fmt::format("{}: {} header is damaged or truncated ({})", origin, format, why));
}

ImageHeader make(const char* format, int64_t width, int64_t height, int channels, int bytes_per_channel,
                 const std::string& origin) {
  constexpr int64_t kMaxSide = (int64_t{1} << 31) - 1;  // no decoder takes more (OpenCV: 2^20)
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide) {
    damaged(origin, format, fmt::format("image size {}x{}", width, height));
  }
  ImageHeader h;
  h.format = format;
  h.width = width;
  h.height = height;
  h.channels = channels;
  h.bytes_per_channel = bytes_per_channel;
  return h;
}

ImageHeader png(const Bytes& b, const std::string& origin) {
  if (!b.has(0, 26) || !b.starts_with(12, "IHDR")) damaged(origin, "PNG", "no IHDR chunk");
  const int depth = b.u8(24);
  const int color = b.u8(25);
  const int channels = color == 0 ? 1 : color == 4 ? 2 : color == 6 ? 4 : 3;  // 2 RGB, 3 palette -> BGR
  return make("PNG", static_cast<int64_t>(b.be(16, 4)), static_cast<int64_t>(b.be(20, 4)), channels,
              depth == 16 ? 2 : 1, origin);
}

ImageHeader jpeg(const Bytes& b, const std::string& origin) {
  size_t at = 2;  // after SOI
  while (at < b.size()) {
    if (b.u8(at) != 0xFF) {  // stray bytes between segments: libjpeg skips them too
      ++at;
      continue;
    }
    while (at < b.size() && b.u8(at) == 0xFF) ++at;  // fill bytes
    if (at >= b.size()) break;
    const uint8_t marker = b.u8(at++);
    if (marker == 0x00 || marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (marker == 0xD9 || marker == 0xDA) damaged(origin, "JPEG", "no frame header before the image data");
    if (!b.has(at, 2)) break;
    const size_t length = b.be(at, 2);
    if (length < 2) damaged(origin, "JPEG", fmt::format("segment length {}", length));
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (length < 8 || !b.has(at, 8)) break;
      return make("JPEG", static_cast<int64_t>(b.be(at + 5, 2)), static_cast<int64_t>(b.be(at + 3, 2)),
                  std::max<int>(1, b.u8(at + 7)), 1, origin);
    }
    at += length;
  }
  damaged(origin, "JPEG", "no frame header");
}

ImageHeader bmp(const Bytes& b, const std::string& origin) {
  if (!b.has(14, 4)) damaged(origin, "BMP", "no info header");
  const uint64_t info = b.le(14, 4);
  int64_t width = 0, height = 0;
  int bits = 0;
  if (info == 12) {  // OS/2 BITMAPCOREHEADER
    if (!b.has(14, 12)) damaged(origin, "BMP", "info header cut short");
    width = static_cast<int64_t>(b.le(18, 2));
    height = static_cast<int64_t>(b.le(20, 2));
    bits = static_cast<int>(b.le(24, 2));
  } else if (info >= 40) {
    if (!b.has(14, 40)) damaged(origin, "BMP", "info header cut short");
    width = static_cast<int32_t>(b.le(18, 4));
    height = static_cast<int32_t>(b.le(22, 4));
    if (height < 0) height = -height;  // top-down rows
    bits = static_cast<int>(b.le(28, 2));
  } else {
    damaged(origin, "BMP", fmt::format("info header of {} bytes", info));
  }
  return make("BMP", width, height, bits == 32 ? 4 : 3, 1, origin);
}

ImageHeader tiff(const Bytes& b, const std::string& origin) {
  const bool little = b.u8(0) == 'I';
  const bool big_tiff = b.read(2, 2, little) == 43;
  size_t ifd = 0;
  if (big_tiff) {
    if (!b.has(0, 16)) damaged(origin, "TIFF", "BigTIFF header cut short");
    ifd = static_cast<size_t>(std::min<uint64_t>(b.read(8, 8, little), SIZE_MAX / 2));
  } else {
    ifd = static_cast<size_t>(b.read(4, 4, little));
  }
  const size_t count_size = big_tiff ? 8 : 2;
  const size_t entry_size = big_tiff ? 20 : 12;
  const size_t value_at = big_tiff ? 12 : 8;  // inside an entry
  if (!b.has(ifd, count_size)) damaged(origin, "TIFF", fmt::format("first directory at {} is outside the file", ifd));
  const uint64_t entries = b.read(ifd, static_cast<int>(count_size), little);
  if (entries > (b.size() - ifd - count_size) / entry_size) damaged(origin, "TIFF", "directory cut short");
  int64_t width = 0, height = 0;
  int samples = 1, bits = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    const size_t e = ifd + count_size + static_cast<size_t>(i) * entry_size;
    const uint64_t tag = b.read(e, 2, little);
    const uint64_t type = b.read(e + 2, 2, little);
    const int width_of = type == 3 ? 2 : type == 4 ? 4 : type == 16 ? 8 : type == 1 ? 1 : 0;  // SHORT LONG LONG8 BYTE
    if (width_of == 0 || width_of > (big_tiff ? 8 : 4)) continue;
    const uint64_t count = b.read(e + 4, big_tiff ? 8 : 4, little);
    const size_t inline_bytes = big_tiff ? 8 : 4;
    size_t at = e + value_at;
    if (count > inline_bytes / width_of) {  // the values are elsewhere; the field holds their offset
      at = static_cast<size_t>(std::min<uint64_t>(b.read(e + value_at, static_cast<int>(inline_bytes), little),
                                                  SIZE_MAX / 2));
      if (!b.has(at, width_of)) continue;
    }
    const int64_t value = static_cast<int64_t>(std::min<uint64_t>(b.read(at, width_of, little), INT64_MAX / 4));
    if (tag == 256) width = value;
    if (tag == 257) height = value;
    if (tag == 277) samples = static_cast<int>(std::min<int64_t>(value, 64));
    if (tag == 258) bits = static_cast<int>(std::min<int64_t>(value, 64));  // the first sample's
  }
  if (width == 0 || height == 0) damaged(origin, "TIFF", "no image width or length in the first directory");
  (void)bits;  // BitsPerSample understates some encodings (LogLuv decodes to float): depth unknown
  return make("TIFF", width, height, samples > 4 ? 0 : samples, 0, origin);
}

ImageHeader webp(const Bytes& b, const std::string& origin) {
  if (b.starts_with(12, "VP8 ")) {
    if (!b.has(20, 10) || b.be(23, 3) != 0x9d012a) damaged(origin, "WebP", "VP8 frame header");
    return make("WebP", static_cast<int64_t>(b.le(26, 2) & 0x3fff), static_cast<int64_t>(b.le(28, 2) & 0x3fff), 3, 1,
                origin);
  }
  if (b.starts_with(12, "VP8L")) {
    if (!b.has(20, 5) || b.u8(20) != 0x2f) damaged(origin, "WebP", "VP8L header");
    const uint64_t bits = b.le(21, 4);
    return make("WebP", static_cast<int64_t>((bits & 0x3fff) + 1), static_cast<int64_t>(((bits >> 14) & 0x3fff) + 1),
                (bits >> 28) & 1 ? 4 : 3, 1, origin);
  }
  if (b.starts_with(12, "VP8X")) {
    if (!b.has(20, 10)) damaged(origin, "WebP", "VP8X header cut short");
    return make("WebP", static_cast<int64_t>(b.le(24, 3) + 1), static_cast<int64_t>(b.le(27, 3) + 1),
                b.u8(20) & 0x10 ? 4 : 3, 1, origin);
  }
  damaged(origin, "WebP", "no VP8, VP8L or VP8X chunk");
}

ImageHeader jpeg2000_codestream(const Bytes& b, size_t at, const std::string& origin) {
  // SOC (FF4F), SIZ (FF51): Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz Ssiz...
  if (!b.has(at, 43) || b.be(at, 2) != 0xFF4F || b.be(at + 2, 2) != 0xFF51) {
    damaged(origin, "JPEG 2000", "no SIZ marker");
  }
  const int64_t x = static_cast<int64_t>(b.be(at + 8, 4)) - static_cast<int64_t>(b.be(at + 16, 4));
  const int64_t y = static_cast<int64_t>(b.be(at + 12, 4)) - static_cast<int64_t>(b.be(at + 20, 4));
  const int components = static_cast<int>(b.be(at + 40, 2));
  const int bits = (b.u8(at + 42) & 0x7f) + 1;
  return make("JPEG 2000", x, y, components >= 1 && components <= 4 ? components : 0, bits > 8 ? 2 : 1, origin);
}

ImageHeader jp2(const Bytes& b, const std::string& origin) {
  // Boxes: LBox (4) TBox (4) [XLBox (8)]; the image header is jp2h/ihdr.
  size_t at = 12, end = b.size();
  bool in_header = false;
  while (b.has(at, 8)) {
    uint64_t length = b.be(at, 4);
    size_t header = 8;
    if (length == 1) {
      if (!b.has(at, 16)) break;
      length = b.be(at + 8, 8);
      header = 16;
    } else if (length == 0) {
      length = end - at;
    }
    if (length < header || length > end - at) break;
    if (b.starts_with(at + 4, "jp2h")) {
      in_header = true;
      end = at + static_cast<size_t>(length);
      at += header;
      continue;
    }
    if (in_header && b.starts_with(at + 4, "ihdr")) {
      if (length < header + 11) break;
      const size_t d = at + header;
      const int components = static_cast<int>(b.be(d + 8, 2));
      const int bits = (b.u8(d + 10) & 0x7f) + 1;
      return make("JPEG 2000", static_cast<int64_t>(b.be(d + 4, 4)), static_cast<int64_t>(b.be(d, 4)),
                  components >= 1 && components <= 4 ? components : 0, bits > 8 ? 2 : 1, origin);
    }
    if (!in_header && b.starts_with(at + 4, "jp2c")) return jpeg2000_codestream(b, at + header, origin);
    at += static_cast<size_t>(length);
  }
  damaged(origin, "JPEG 2000", "no image header box");
}

// Whitespace- and comment-separated tokens of the Netpbm family.
class NetpbmTokens {
 public:
  NetpbmTokens(const Bytes& b, size_t at) : b_(b), at_(at) {}
  std::string next() {
    while (at_ < b_.size()) {
      const char c = b_.at(at_);
      if (c == '#') {
        while (at_ < b_.size() && b_.at(at_) != '\n' && b_.at(at_) != '\r') ++at_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++at_;
      } else {
        break;
      }
    }
    std::string token;
    while (at_ < b_.size() && token.size() < 64 && !std::isspace(static_cast<unsigned char>(b_.at(at_))) &&
           b_.at(at_) != '#') {
      token += b_.at(at_++);
    }
    return token;
  }
  // A non-negative decimal number, or -1.
  int64_t number() {
    const std::string t = next();
    if (t.empty() || t.size() > 15) return -1;
    int64_t v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v;
  }

 private:
  const Bytes& b_;
  size_t at_;
};

ImageHeader pnm(const Bytes& b, const std::string& origin) {
  const char kind = b.at(1);
  NetpbmTokens tokens(b, 2);
  const int64_t width = tokens.number();
  const int64_t height = tokens.number();
  if (width < 0 || height < 0) damaged(origin, "PNM", "no width and height");
  int64_t maxval = 1;
  if (kind != '1' && kind != '4') {
    maxval = tokens.number();
    if (maxval <= 0) damaged(origin, "PNM", "no maximum value");
  }
  const int channels = (kind == '3' || kind == '6') ? 3 : 1;
  return make("PNM", width, height, channels, maxval > 255 ? 2 : 1, origin);
}

ImageHeader pam(const Bytes& b, const std::string& origin) {
  NetpbmTokens tokens(b, 2);
  int64_t width = -1, height = -1, depth = 0, maxval = 255;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = tokens.next();
    if (key.empty() || key == "ENDHDR") break;
    if (key == "WIDTH") width = tokens.number();
    if (key == "HEIGHT") height = tokens.number();
    if (key == "DEPTH") depth = tokens.number();
    if (key == "MAXVAL") maxval = tokens.number();
  }
  if (width < 0 || height < 0) damaged(origin, "PAM", "no WIDTH and HEIGHT");
  return make("PAM", width, height, depth >= 1 && depth <= 4 ? static_cast<int>(depth) : 0, maxval > 255 ? 2 : 1,
              origin);
}

ImageHeader pfm(const Bytes& b, const std::string& origin) {
  NetpbmTokens tokens(b, 2);
  const int64_t width = tokens.number();
  const int64_t height = tokens.number();
  if (width < 0 || height < 0) damaged(origin, "PFM", "no width and height");
  return make("PFM", width, height, b.at(1) == 'F' ? 3 : 1, 4, origin);
}

ImageHeader sun_raster(const Bytes& b, const std::string& origin) {
  if (!b.has(0, 32)) damaged(origin, "Sun raster", "header cut short");
  const int64_t width = static_cast<int32_t>(b.be(4, 4));
  const int64_t height = static_cast<int32_t>(b.be(8, 4));
  return make("Sun raster", width, height, 3, 1, origin);
}

ImageHeader openexr(const Bytes& b, const std::string& origin) {
  // Attributes: name\0 type\0 size(int32) value, up to an empty name.
  size_t at = 8;
  for (int i = 0; i < 10000 && at < b.size(); ++i) {
    std::string name, type;
    while (at < b.size() && b.at(at) != '\0' && name.size() < 256) name += b.at(at++);
    if (name.empty()) break;
    ++at;
    while (at < b.size() && b.at(at) != '\0' && type.size() < 256) type += b.at(at++);
    ++at;
    if (!b.has(at, 4)) break;
    const uint64_t size = b.le(at, 4);
    at += 4;
    if (name == "dataWindow" && type == "box2i" && size == 16 && b.has(at, 16)) {
      const int64_t x0 = static_cast<int32_t>(b.le(at, 4)), y0 = static_cast<int32_t>(b.le(at + 4, 4));
      const int64_t x1 = static_cast<int32_t>(b.le(at + 8, 4)), y1 = static_cast<int32_t>(b.le(at + 12, 4));
      return make("OpenEXR", x1 - x0 + 1, y1 - y0 + 1, 0, 4, origin);
    }
    if (size > b.size() - std::min(at, b.size())) break;
    at += static_cast<size_t>(size);
  }
  damaged(origin, "OpenEXR", "no dataWindow attribute");
}

ImageHeader radiance(const Bytes& b, const std::string& origin) {
  // Header lines up to an empty line, then e.g. "-Y 480 +X 640".
  size_t at = 0;
  while (at < b.size()) {
    const size_t line_start = at;
    while (at < b.size() && b.at(at) != '\n') ++at;
    const bool empty = at == line_start;
    ++at;
    if (empty) break;
  }
  // Two "[+-][XY] number" pairs, Y first or X first.
  NetpbmTokens tokens(b, at);
  const std::string axis1 = tokens.next();
  const int64_t n1 = tokens.number();
  const std::string axis2 = tokens.next();
  const int64_t n2 = tokens.number();
  auto is_axis = [](const std::string& t, char axis) { return t.size() == 2 && (t[0] == '+' || t[0] == '-') && t[1] == axis; };
  const bool y_first = is_axis(axis1, 'Y') && is_axis(axis2, 'X');
  const bool x_first = is_axis(axis1, 'X') && is_axis(axis2, 'Y');
  if ((!y_first && !x_first) || n1 < 0 || n2 < 0) damaged(origin, "Radiance HDR", "no resolution line");
  const int64_t width = x_first ? n1 : n2;
  const int64_t height = x_first ? n2 : n1;
  return make("Radiance HDR", width, height, 3, 4, origin);
}

bool pnm_signature(const Bytes& b, char low, char high) {
  return b.at(0) == 'P' && b.at(1) >= low && b.at(1) <= high && std::isspace(static_cast<unsigned char>(b.at(2)));
}

}  // namespace

std::optional<ImageHeader> read_image_header(const std::string& bytes, const std::string& origin) {
  const Bytes b(bytes);
  if (b.starts_with(0, "\x89PNG\r\n\x1a\n")) return png(b, origin);
  if (b.starts_with(0, "\xff\xd8\xff")) return jpeg(b, origin);
  if (b.starts_with(0, "BM")) return bmp(b, origin);
  if (b.starts_with(0, std::string_view("II*\0", 4)) || b.starts_with(0, std::string_view("MM\0*", 4)) ||
      b.starts_with(0, std::string_view("II+\0", 4)) || b.starts_with(0, std::string_view("MM\0+", 4))) {
    return tiff(b, origin);
  }
  if (b.starts_with(0, "RIFF") && b.starts_with(8, "WEBP")) return webp(b, origin);
  if (b.starts_with(0, std::string_view("\0\0\0\x0cjP  \r\n\x87\n", 12))) return jp2(b, origin);
  if (b.starts_with(0, "\xff\x4f\xff\x51")) return jpeg2000_codestream(b, 0, origin);
  if (pnm_signature(b, '1', '6')) return pnm(b, origin);
  if (pnm_signature(b, '7', '7')) return pam(b, origin);
  if (b.at(0) == 'P' && (b.at(1) == 'F' || b.at(1) == 'f') && std::isspace(static_cast<unsigned char>(b.at(2)))) {
    return pfm(b, origin);
  }
  if (b.starts_with(0, "\x59\xa6\x6a\x95")) return sun_raster(b, origin);
  if (b.starts_with(0, "\x76\x2f\x31\x01")) return openexr(b, origin);
  if (b.starts_with(0, "#?RGBE") || b.starts_with(0, "#?RADIANCE")) return radiance(b, origin);
  return std::nullopt;
}

}  // namespace atman
