// See bundled_example.h.

#include "bundled_example.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#ifndef ATMAN_EXAMPLE_DIR
#define ATMAN_EXAMPLE_DIR "data/example"
#endif

namespace atman::runner {

BundledExample read_bundled_example() {
  namespace fs = std::filesystem;
  fs::path dir = "data/example";
  if (!fs::exists(dir / "example.json")) dir = ATMAN_EXAMPLE_DIR;
  const fs::path item_path = dir / "example.json";
  std::ifstream in(item_path);
  if (!in) {
    throw std::runtime_error(item_path.string() + ": cannot read the bundled example (give --image/--question/--target)");
  }
  try {
    const nlohmann::json item = nlohmann::json::parse(in);
    return {(dir / item.at("image").get<std::string>()).string(), item.at("question").get<std::string>(),
            item.at("target").get<std::string>()};
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(
        fmt::format("{}: not a valid example ({}); give --image/--question/--target", item_path.string(), e.what()));
  }
}

}  // namespace atman::runner
