#include "atman/core/precision_choice.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace atman {

bool cpu_has_bfloat16() {
  const char* assume_no = std::getenv("ATMAN_ASSUME_NO_BF16");
  if (assume_no && std::strcmp(assume_no, "1") == 0) return false;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string flag;
    while (words >> flag) {
      if (flag == "avx512_bf16" || flag == "amx_bf16") return true;
    }
    return false;  // every core reports the same flags
  }
  return false;
}

PrecisionChoice choose_precision(Precision asked, const ModelConfig& config) {
  if (asked != Precision::kAuto) return {asked, "as asked"};
  if (!cpu_has_bfloat16()) return {Precision::kFloat32, "auto: this CPU reports no bfloat16 instructions"};
  if (config.hidden_size < kBFloat16MinWidth) {
    return {Precision::kFloat32, fmt::format("auto: width {} is under {}, where bfloat16 stops paying",
                                             config.hidden_size, kBFloat16MinWidth)};
  }
  return {Precision::kBFloat16,
          fmt::format("auto: bfloat16 instructions and width {} (>= {})", config.hidden_size, kBFloat16MinWidth)};
}

}  // namespace atman
