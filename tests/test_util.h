#pragma once
// Helpers shared by the tests: paths of the test models, temporary folders,
// running the real binary, and message checks.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace atman::testing {

// Resident memory under AddressSanitizer includes its shadow memory and its
// quarantine (freed blocks held back to catch use after free), which grow as
// the process runs: budget checks against resident memory are skipped there.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kUnderAddressSanitizer = true;
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif

inline std::string test_model(const std::string& name) { return std::string(ATMAN_TEST_MODELS) + "/" + name; }
inline std::string bad_model(const std::string& name) { return std::string(ATMAN_TEST_MODELS) + "/bad/" + name; }
inline std::string source_path(const std::string& rel) { return std::string(ATMAN_SOURCE_DIR) + "/" + rel; }

/// A fresh folder under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

/// Output of one run of the `atman` binary.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  /// stderr lines (without the trailing newline).
  std::vector<std::string> err_lines() const;
};
RunResult run_atman(const std::vector<std::string>& args);

/// EXPECT that `f` throws a std::exception whose message contains every `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts);

}  // namespace atman::testing
