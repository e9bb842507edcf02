#include "atman/base/fingerprint.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace atman {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;  // FNV-1a 64 offset basis
constexpr uint64_t kFnvPrime = 1099511628211ull;

void mix(uint64_t& h, std::string_view bytes) {
  for (const char ch : bytes) {
    h ^= static_cast<unsigned char>(ch);
    h *= kFnvPrime;
  }
}

}  // namespace

std::string fingerprint_hex(std::string_view bytes, std::string_view seed) {
  uint64_t h = kFnvOffset;
  mix(h, seed);
  mix(h, bytes);
  return fmt::format("{:016x}", h);
}

std::string file_fingerprint_hex(const std::string& path, std::string_view seed) {
  // A folder opens as a stream that reads nothing: it would hash as an empty file.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error(fmt::format("{}: a folder, not a file to fingerprint", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read it to fingerprint it", path));
  uint64_t h = kFnvOffset;
  mix(h, seed);
  std::vector<char> block(1 << 16);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    mix(h, std::string_view(block.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) throw std::runtime_error(fmt::format("{}: a read failed while fingerprinting it", path));
  return fmt::format("{:016x}", h);
}

}  // namespace atman
