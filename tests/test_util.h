#pragma once
// Helpers shared by the tests: paths of the test models, temporary folders,
// running the real binary, and message checks.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "atman/core/explanation.h"

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
  /// The same as path(): a file in the folder.
  std::string file(const std::string& name) const { return path(name); }
  const std::filesystem::path& dir() const { return dir_; }
  /// The names in the folder, sorted.
  std::vector<std::string> entries() const;

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
/// Runs `prefix ATMAN args...` through the shell (prefix: environment and
/// launchers such as "env -u OMP_WAIT_POLICY taskset -c 0").
RunResult run_atman_with(const std::string& prefix, const std::vector<std::string>& args);
/// Runs `prefix program args...` through the shell.
RunResult run_program(const std::string& prefix, const std::string& program, const std::vector<std::string>& args);
/// `arg` in single quotes for /bin/sh.
std::string shell_quote(const std::string& arg);

/// Tolerance for two float32 computations of one quantity that differ only in
/// the order of their sums (another batch layout, thread count or BLAS path;
/// docs/reliability.md promises the same bits only for the same input, threads
/// and batch): 64 float32 units in the last place (2^-23 each) at `scale`, the
/// magnitude of the terms that were summed (for a relevance: the cross-entropies
/// whose difference it is). Observed reorderings move such values by at most 8
/// ULPs; the tests look for errors of 1e-4 and more. tests/python/float32_rounding.py
/// is the same rule for the Python tests.
inline double float32_reorder_tolerance(double scale) {
  return 64.0 * std::ldexp(1.0, -23) * std::max(1.0, std::abs(scale));
}
/// Bound on the rounding of a float32 sum of `count` terms whose absolute
/// values add up to `sum_of_abs` (recursive summation: (count - 1) u, u = 2^-24),
/// for comparing such a sum with the same terms added in float64.
inline double float32_sum_tolerance(int64_t count, double sum_of_abs) {
  return static_cast<double>(std::max<int64_t>(count, 1)) * std::ldexp(1.0, -24) * sum_of_abs;
}

/// EXPECT that `f` throws a std::exception whose message contains every `parts`.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts);

// --- images (io tests) ---------------------------------------------------------

/// `m` encoded as a file of the format of `ext` (".png", ...).
std::string encode(const cv::Mat& m, const std::string& ext);

/// A test image in one pixel layout (8-bit colour, grayscale, colour with
/// alpha, 16-bit grayscale, 16-bit colour, float colour; all 53 x 37) and
/// its file bytes.
struct EncodedVariant {
  const char* name;
  cv::Mat mat;
  std::string bytes;
};
/// Every layout that OpenCV can write in the format of `ext` (e.g. .exr takes
/// float only, .pbm 8-bit only), encoded.
std::vector<EncodedVariant> encoded_variants(const std::string& ext);

/// Every format OpenCV 4.6 decodes and can also write (GDAL, only reached
/// through imread flags, is not used): file extension and the format's name.
extern const std::vector<std::pair<std::string, std::string>> kFormats;

// --- explanations (render tests) -----------------------------------------------

/// An explanation with a rows x cols patch grid whose relevance is given by
/// `value(r, c)`, then a few text tokens.
Explanation grid_explanation(int rows, int cols, const std::function<double(int, int)>& value);

/// A uniform gray 8-bit colour image.
cv::Mat gray_image(int width, int height);

}  // namespace atman::testing
