#pragma once
// 64-bit FNV-1a fingerprints: the same model file and items on every rank,
// and rows of one model only in a resumed evaluation. Not a cryptographic
// hash: it detects accidents, not attacks.

#include <string>
#include <string_view>

namespace atman {

/// FNV-1a of `seed` then `bytes`, as 16 lowercase hex digits.
std::string fingerprint_hex(std::string_view bytes, std::string_view seed = {});

/// fingerprint_hex of the file's bytes, read in blocks. Throws naming `path`
/// when it cannot be opened or read to the end.
std::string file_fingerprint_hex(const std::string& path, std::string_view seed = {});

}  // namespace atman
